import SystemPackage
import Testing
import UploadKit

@Suite struct OwnedDescriptorTests {
    @Test func closingTwiceClosesOnce() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try openForReading(try directory.write([1, 2, 3], to: "f"))
        try file.close()
        try file.close()
    }

    @Test func aDescriptorDroppedWithoutCloseIsClosed() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try directory.write([1, 2, 3], to: "f")
        let before = openDescriptorCount()
        for _ in 0..<500 { _ = try openForReading(path) }
        // Other tests run in parallel and open files too: a leak here would add hundreds.
        #expect(openDescriptorCount() < before + 50)
    }

    @Test func readingPastTheEndReturnsWhatThereIs() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try openForReading(try directory.write([1, 2, 3], to: "f"))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 10, alignment: 1)
        defer { buffer.deallocate() }
        #expect(try file.readAll(fromAbsoluteOffset: 1, into: buffer) == 2)
    }

    @Test func aPositionedWriteLandsAtItsOffsetWithoutMovingTheSize() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try directory.write([UInt8](repeating: 0, count: 10), to: "f")
        let file = try OwnedDescriptor.open(FilePath(path), .readWrite)
        try file.writeAll(toAbsoluteOffset: 4, [7, 7])
        #expect(try file.size() == 10)
        try file.close()
    }
}
