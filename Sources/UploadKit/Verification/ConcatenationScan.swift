import SystemPackage

/// One read of a concatenation's data file, just written, that yields what
/// its map needs (every chunk's XXH3 and the whole file's SHA-256) and
/// checks, on the same bytes, each part's range against that part's own
/// map: the part's chunks, hashed in the part's geometry, must have the
/// digests it recorded. So bytes a part no longer holds (changed on disk
/// since it was verified) are never recorded as verified in the new upload,
/// whether the kernel copied or shared its blocks.
///
/// As `FileScan`'s in-order scan: the calling thread reads blocks and
/// hashes with XXH3 while a second thread runs SHA-256 over the same
/// blocks, handed over through a small ring of buffers; memory does not
/// grow with the file.
enum ConcatenationScan {
    struct Part: Sendable {
        let id: UploadID
        /// Where the part's bytes are in the concatenation; its length is the part's length.
        let range: ByteRange
        /// The part's own geometry, and what its map records for each of its chunks.
        let layout: ChunkLayout
        let digests: [XXH3Digest?]
    }

    struct Result: Sendable {
        let digests: [XXH3Digest]
        let sha256: SHA256Digest
        /// Each part whose bytes differ from its map, with its chunks that do.
        let damaged: [(id: UploadID, chunks: [ChunkIndex])]
    }

    /// `parts` are in order, back to back from byte 0, and cover `layout`'s file.
    static func scan(
        _ file: OwnedDescriptor, layout: ChunkLayout, parts: [Part], blockSize: Int = FileScan.defaultBlockSize
    ) throws(FileScanError) -> Result {
        file.adviseSequential()
        let size = layout.fileSize.bytes
        let ring = BlockRing(count: FileScan.ringSize, blockSize: blockSize)
        let hashing = ring.startConsumer()
        var digester = ChunkDigester(layout: layout)
        var digests = [XXH3Digest](repeating: XXH3Digest(0), count: layout.chunkCount)
        var differing = [[ChunkIndex]](repeating: [], count: parts.count)
        // The part the next byte belongs to, and its own digester.
        var part = 0
        var partDigester = ChunkDigester(layout: parts.first?.layout ?? layout)
        var offset: Int64 = 0
        var slot = 0
        var failure: FileScanError?
        while offset < size {
            let buffer = ring.acquireEmpty(slot)
            let want = Int(min(Int64(blockSize), size - offset))
            let block = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want])
            do throws(FileScanError) {
                try read(file, at: offset, into: block, size: size)
            } catch {
                failure = error
                break
            }
            let bytes = UnsafeRawBufferPointer(block)
            digester.feed(bytes) { index, digest in digests[index.value] = digest }
            var position = 0
            while position < want {
                let at = offset + Int64(position)
                // Parts that end here (empty ones included) are done.
                while part < parts.count, parts[part].range.end <= at {
                    part += 1
                    if part < parts.count { partDigester = ChunkDigester(layout: parts[part].layout) }
                }
                guard part < parts.count else { break }
                let take = Int(min(Int64(want - position), parts[part].range.end - at))
                let (current, recorded) = (part, parts[part].digests)
                partDigester.feed(UnsafeRawBufferPointer(rebasing: bytes[position..<position + take])) { index, digest in
                    if recorded[index.value] != digest { differing[current].append(index) }
                }
                position += take
            }
            ring.publish(slot, length: want)
            slot = (slot + 1) % FileScan.ringSize
            offset += Int64(want)
        }
        ring.finish(slot)
        let sha256 = hashing.join()
        if let failure { throw failure }
        let damaged = parts.indices.filter { !differing[$0].isEmpty }.map { (id: parts[$0].id, chunks: differing[$0]) }
        return Result(digests: digests, sha256: sha256, damaged: damaged)
    }

    /// Fills `block` from `offset`; a file that ends first was changed under the scan.
    private static func read(_ file: OwnedDescriptor, at offset: Int64, into block: UnsafeMutableRawBufferPointer, size: Int64) throws(FileScanError) {
        let got: Int
        do throws(IOError) { got = try file.readAll(fromAbsoluteOffset: offset, into: block) } catch { throw .io(error) }
        guard got == block.count else {
            throw .endedEarly(path: file.path.string, expectedBytes: size, actualBytes: offset + Int64(got))
        }
    }
}
