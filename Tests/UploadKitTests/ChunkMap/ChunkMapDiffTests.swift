import Testing
import UploadKit

@Suite struct ChunkMapDiffTests {
    let layout = try! ChunkLayout(fileSize: ByteCount(3 * 65_536), chunkSize: .kibibytes(64))

    func map(_ chunks: [ChunkState]) -> ChunkMap {
        ChunkMap(header: ChunkMapHeader(layout: layout), status: ChunkMapStatus(state: .receiving), chunks: chunks)
    }

    @Test func identicalMapsHaveNoDifferences() throws {
        let a = map([.verified(XXH3Digest(1)), .verified(XXH3Digest(2)), .verified(XXH3Digest(3))])
        #expect(try ChunkMapDiff.differences(a, a).isEmpty)
    }

    @Test func eachDifferenceNamesItsChunkRangeAndReason() throws {
        let a = map([.verified(XXH3Digest(1)), .verified(XXH3Digest(2)), .verified(XXH3Digest(3))])
        let b = map([.verified(XXH3Digest(9)), .missing, .corrupt(expected: XXH3Digest(3))])
        let differences = try ChunkMapDiff.differences(a, b)
        #expect(differences.map(\.reason) == [.differs, .missing, .corrupt])
        #expect(differences.map(\.index) == [ChunkIndex(0), ChunkIndex(1), ChunkIndex(2)])
        #expect(differences[1].range == ByteRange(offset: 65_536, length: 65_536))
    }

    @Test func mapsOfDifferentGeometryAreRefused() throws {
        let a = map([.missing, .missing, .missing])
        let other = try ChunkLayout(fileSize: ByteCount(3 * 65_536), chunkSize: .kibibytes(128))
        let b = ChunkMap(header: ChunkMapHeader(layout: other), status: ChunkMapStatus(state: .receiving), chunks: [.missing, .missing])
        #expect(throws: ChunkMapDiffError.geometryMismatch(layout, other)) { try ChunkMapDiff.differences(a, b) }
    }
}
