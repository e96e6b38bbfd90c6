import Testing
import UploadKit

@Suite struct ChunkLayoutTests {
    @Test func defaultChunkSizeIs8MiB() throws {
        let layout = try ChunkLayout.automatic(fileSize: .gibibytes(4))
        #expect(layout.chunkSize == .mebibytes(8))
        #expect(layout.chunkCount == 512)
    }

    @Test func automaticLayoutRaisesTheChunkSizeToStayWithin32768Chunks() throws {
        let size = ByteCount(ByteCount.gibibytes(256).bytes + 1)
        let layout = try ChunkLayout.automatic(fileSize: size)
        #expect(layout.chunkSize == .mebibytes(16))
        #expect(layout.chunkCount <= 32_768)
    }

    @Test func exactly32768ChunksIsAllowed() throws {
        let layout = try ChunkLayout(fileSize: ByteCount(32_768 * 65_536), chunkSize: .kibibytes(64))
        #expect(layout.chunkCount == 32_768)
    }

    @Test func oneChunkTooManyIsRefusedNamingTheSmallestAllowed() {
        let size = ByteCount(32_768 * 65_536 + 1)
        #expect(throws: ChunkLayoutError.tooManyChunks(fileSize: size, chunkSize: .kibibytes(64), smallestAllowed: ByteCount(65_537))) {
            try ChunkLayout(fileSize: size, chunkSize: .kibibytes(64))
        }
    }

    @Test func chunkSizeBelow64KiBIsRefused() {
        #expect(throws: ChunkLayoutError.chunkSizeTooSmall(ByteCount(65_535))) {
            try ChunkLayout(fileSize: ByteCount(10), chunkSize: ByteCount(65_535))
        }
    }

    @Test func chunkSizeAbove256MiBIsRefused() {
        let size = ByteCount(ChunkLayout.maximumChunkSize.bytes + 1)
        #expect(throws: ChunkLayoutError.chunkSizeTooLarge(size)) { try ChunkLayout(fileSize: ByteCount(10), chunkSize: size) }
    }

    @Test func theLargestFileIs8TiB() throws {
        let layout = try ChunkLayout.automatic(fileSize: ChunkLayout.maximumFileSize)
        #expect(layout.chunkSize == ChunkLayout.maximumChunkSize)
        #expect(layout.chunkCount == 32_768)
        let tooLarge = ByteCount(ChunkLayout.maximumFileSize.bytes + 1)
        #expect(throws: ChunkLayoutError.fileTooLarge(tooLarge)) { try ChunkLayout.automatic(fileSize: tooLarge) }
    }

    @Test func anEmptyFileHasNoChunks() throws {
        let layout = try ChunkLayout.automatic(fileSize: ByteCount(0))
        #expect(layout.chunkCount == 0)
        #expect(layout.indices.isEmpty)
    }

    @Test(arguments: [Int64(1), Int64(65_535), Int64(65_536), Int64(65_537), Int64(5 * 65_536 + 1000)])
    func chunksTileTheFileExactlyWithOnlyTheLastShort(size: Int64) throws {
        let layout = try ChunkLayout(fileSize: ByteCount(size), chunkSize: .kibibytes(64))
        var next: Int64 = 0
        for index in layout.indices {
            let range = layout.range(of: index)
            #expect(range.offset == next)
            #expect(range.length > 0)
            if index.value < layout.chunkCount - 1 { #expect(range.length == 65_536) }
            next = range.end
        }
        #expect(next == size)
    }

    @Test func aRangeNamesAChunkOnlyWhenAlignedAndWhole() throws {
        let layout = try ChunkLayout(fileSize: ByteCount(3 * 65_536 + 10), chunkSize: .kibibytes(64))
        #expect(layout.chunk(exactly: ByteRange(offset: 65_536, length: 65_536)) == ChunkIndex(1))
        #expect(layout.chunk(exactly: ByteRange(offset: 3 * 65_536, length: 10)) == ChunkIndex(3))
        #expect(layout.chunk(exactly: ByteRange(offset: 1, length: 65_536)) == nil)
        #expect(layout.chunk(exactly: ByteRange(offset: 0, length: 65_535)) == nil)
        #expect(layout.chunk(exactly: ByteRange(offset: 3 * 65_536, length: 65_536)) == nil)
        #expect(layout.chunk(exactly: ByteRange(offset: 4 * 65_536, length: 1)) == nil)
    }

    @Test func aRangePrintsItsLastByteAsHTTPDoes() {
        #expect(ByteRange(offset: 0, length: 100).description == "bytes 0-99")
        #expect(ByteRange(offset: 0, length: 100).lastByte == 99)
    }
}
