/// RFC 9110 `Range: bytes=…`, the one range this server serves:
/// `bytes=FIRST-LAST`, `bytes=FIRST-` or `bytes=-SUFFIX`. A header with
/// several ranges, another unit or bad syntax is ignored (the whole file is
/// served), as the RFC allows.
public enum RangeRequest: Sendable, Equatable {
    /// No usable Range: serve the whole file.
    case whole
    case satisfiable(ByteRange)
    /// A valid range that names no byte of the file: `416`.
    case unsatisfiable

    public static func parse(_ value: String, fileSize size: Int64) -> RangeRequest {
        let header = value.trimmingSpaces()
        guard header.utf8.count > 6, header.utf8.prefix(6).map({ $0 | 0x20 }) == Array("bytes=".utf8), !header.contains(",") else {
            return .whole
        }
        let spec = header.dropFirst(6)
        guard let dash = spec.firstIndex(of: "-") else { return .whole }
        let firstText = spec[spec.startIndex..<dash]
        let lastText = spec[spec.index(after: dash)...]
        if firstText.isEmpty {
            guard let suffix = ASCIIDecimal.parse(lastText) else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            let length = min(suffix, size)
            return .satisfiable(ByteRange(offset: size - length, length: length))
        }
        guard let first = ASCIIDecimal.parse(firstText) else { return .whole }
        if lastText.isEmpty {
            guard first < size else { return .unsatisfiable }
            return .satisfiable(ByteRange(offset: first, length: size - first))
        }
        guard let last = ASCIIDecimal.parse(lastText) else { return .whole }
        // RFC 9110 §14.1.1: a last position before the first makes the range invalid, so ignored.
        guard first <= last else { return .whole }
        guard first < size else { return .unsatisfiable }
        return .satisfiable(ByteRange(offset: first, length: min(last, size - 1) - first + 1))
    }
}
