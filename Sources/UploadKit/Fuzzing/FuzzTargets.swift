/// What the libFuzzer targets (Fuzz/) and the corpus replay test (make test)
/// run on each input: every parser of bytes a client or a disk controls.
/// A parser may refuse any input by throwing; it must never trap, and what
/// it accepts must survive a round trip. A broken round trip traps here on
/// purpose, so that the fuzzer reports it as a crash.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case contentRange = "content-range"
    case digestField = "digest-field"
    case uploadID = "upload-id"
    case chunkMap = "chunkmap"
    case rangeRequest = "range-request"

    public func run(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .contentRange: Self.contentRange(String(decoding: bytes, as: UTF8.self))
        case .digestField: Self.digestField(String(decoding: bytes, as: UTF8.self))
        case .uploadID: Self.uploadID(String(decoding: bytes, as: UTF8.self))
        case .chunkMap: Self.chunkMap(Array(bytes))
        case .rangeRequest: Self.rangeRequest(String(decoding: bytes, as: UTF8.self))
        }
    }

    public func run(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { run($0) }
    }

    private static func contentRange(_ text: String) {
        guard let range = try? ContentRange.parse(text) else { return }
        precondition(range.range.length > 0 && range.range.offset >= 0 && range.range.end <= range.completeLength, "accepted \(text)")
        precondition((try? ContentRange.parse(range.headerValue)) == range, "round trip of \(text)")
    }

    private static func digestField(_ text: String) {
        guard let field = try? DigestField.parse(text) else { return }
        precondition((try? DigestField.parse(field.headerValue)) == field, "round trip of \(text)")
    }

    private static func uploadID(_ text: String) {
        guard let id = UploadID(text) else { return }
        // The only ids that may ever name a path: 32 lowercase hex digits.
        precondition(id.rawValue.utf8.count == 32 && id.rawValue.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        precondition(UploadID(id.rawValue) == id)
    }

    private static func rangeRequest(_ text: String) {
        for size: Int64 in [0, 1, 1000, Int64.max] {
            guard case .satisfiable(let range) = RangeRequest.parse(text, fileSize: size) else { continue }
            precondition(range.length > 0 && range.end <= size, "accepted \(text) for \(size) bytes as \(range)")
            let again = RangeRequest.parse("bytes=\(range.offset)-\(range.lastByte)", fileSize: size)
            precondition(again == .satisfiable(range), "round trip of \(text)")
        }
    }

    private static func chunkMap(_ bytes: [UInt8]) {
        guard let map = try? ChunkMapCodec.decode(bytes) else { return }
        precondition(map.chunks.count == map.layout.chunkCount, "entry count")
        precondition((try? ChunkMapCodec.decode(ChunkMapCodec.encode(map))) == map, "round trip")
    }
}
