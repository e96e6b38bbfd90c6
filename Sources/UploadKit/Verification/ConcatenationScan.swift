import SystemPackage

/// One read of a concatenation's data file, just written, that yields what
/// its map needs (every chunk's XXH3 and the whole file's SHA-256) and
/// checks, on the same bytes, each part's range against that part's own
/// map: the part's chunks, hashed in the part's geometry, must have the
/// digests it recorded. So bytes a part no longer holds (changed on disk
/// since it was verified) are never recorded as verified in the new upload,
/// whether the kernel copied or shared its blocks.
///
/// Through `FileScan`'s in-order scan (its one read loop): the calling
/// thread reads blocks and hashes with XXH3 while a second thread runs
/// SHA-256 over the same blocks, handed over through a small ring of
/// buffers; each block is also fed to the parts' check. Memory does not
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
        let digests = DigestTable(count: layout.chunkCount)
        let check = PartCheck(parts, layout: layout)
        let sha256 = try FileScan.scanInOrder(
            file, layout: layout, from: ChunkIndex(0), digests: digests, blockSize: blockSize, computeSHA256: true, partial: nil,
            progress: nil, onChunk: nil, onBlock: { offset, bytes in check.feed(bytes, at: offset) })
        return Result(digests: digests.values(), sha256: sha256, damaged: check.damaged)
    }
}

/// Each part's bytes, as they stream past in order, hashed in the part's
/// own geometry and compared with the digests its map recorded. Used by
/// one thread (the scan's reader).
private final class PartCheck {
    private let parts: [ConcatenationScan.Part]
    /// The part the next byte belongs to, and its own digester.
    private var part = 0
    private var digester: ChunkDigester
    private var differing: [[ChunkIndex]]

    init(_ parts: [ConcatenationScan.Part], layout: ChunkLayout) {
        self.parts = parts
        self.digester = ChunkDigester(layout: parts.first?.layout ?? layout)
        self.differing = Array(repeating: [], count: parts.count)
    }

    /// Each part whose bytes differ from its map, with its chunks that do.
    var damaged: [(id: UploadID, chunks: [ChunkIndex])] {
        parts.indices.filter { !differing[$0].isEmpty }.map { (id: parts[$0].id, chunks: differing[$0]) }
    }

    /// The bytes from `offset` of the concatenation.
    func feed(_ bytes: UnsafeRawBufferPointer, at offset: Int64) {
        var position = 0
        while position < bytes.count {
            let at = offset + Int64(position)
            // Parts that end here (empty ones included) are done.
            while part < parts.count, parts[part].range.end <= at {
                part += 1
                if part < parts.count { digester = ChunkDigester(layout: parts[part].layout) }
            }
            guard part < parts.count else { break }
            let take = Int(min(Int64(bytes.count - position), parts[part].range.end - at))
            let (current, recorded) = (part, parts[part].digests)
            var found = [ChunkIndex]()
            digester.feed(UnsafeRawBufferPointer(rebasing: bytes[position..<position + take])) { index, digest in
                if recorded[index.value] != digest { found.append(index) }
            }
            differing[current].append(contentsOf: found)
            position += take
        }
    }
}
