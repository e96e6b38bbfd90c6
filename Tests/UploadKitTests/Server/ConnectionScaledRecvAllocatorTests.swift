import NIOCore
import Testing

@testable import UploadKit

@Suite struct ConnectionScaledRecvAllocatorTests {
    @Test func fewConnectionsReadIn64KiB() {
        #expect(ConnectionScaledRecvAllocator.cap(open: 1) == 64 << 10)
        #expect(ConnectionScaledRecvAllocator.cap(open: 64) == 64 << 10)
    }

    @Test func manyConnectionsShareTheBudgetDownTo8KiB() {
        #expect(ConnectionScaledRecvAllocator.cap(open: 128) == 32 << 10)
        #expect(ConnectionScaledRecvAllocator.cap(open: 512) == 8 << 10)
        #expect(ConnectionScaledRecvAllocator.cap(open: 100_000) == 8 << 10)
    }

    @Test func aConnectionsReadsFollowTheCountAsItChanges() {
        let count = ConnectionCount(limit: 10_000)
        var allocator = ConnectionScaledRecvAllocator(connections: count)
        // Full reads grow the adaptive size to its ceiling.
        for _ in 0..<20 { _ = allocator.record(actualReadBytes: allocator.nextBufferSize()!) }
        #expect(allocator.nextBufferSize() == 64 << 10)
        for _ in 0..<600 { _ = count.admit() }
        #expect(allocator.nextBufferSize() == 8 << 10)
        #expect(allocator.buffer(allocator: ByteBufferAllocator()).capacity >= 8 << 10)
        #expect(allocator.buffer(allocator: ByteBufferAllocator()).capacity < 64 << 10)
        for _ in 0..<600 { count.leave() }
        #expect(allocator.nextBufferSize() == 64 << 10)
    }
}
