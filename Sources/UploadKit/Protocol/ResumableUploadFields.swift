/// What the IETF draft "Resumable Uploads for HTTP" asks of its header
/// values, for the interop versions this server speaks (see
/// docs/ietf-resumable-upload-notes.md for the draft text behind each rule).
public enum ResumableUploadFields {
    /// `Upload-Draft-Interop-Version` values spoken: 6 is draft -05 (what
    /// Apple's URLSession sends), 7 is drafts -06 to -08, 8 is -09 to -11.
    public static let interopVersions: ClosedRange<Int> = 6...8
    public static let partialUploadMediaType = "application/partial-upload"

    /// The draft's problem types, registered with IANA.
    public static let mismatchingOffsetType = "https://iana.org/assignments/http-problem-types#mismatching-upload-offset"
    public static let completedUploadType = "https://iana.org/assignments/http-problem-types#completed-upload"
    public static let inconsistentLengthType = "https://iana.org/assignments/http-problem-types#inconsistent-upload-length"

    /// An RFC 8941 Boolean item: `?1` or `?0`; anything else is ignored (nil), as the draft asks.
    public static func boolean(_ value: String) -> Bool? {
        switch value.trimmingCharacters(" ") {
        case "?1": true
        case "?0": false
        default: nil
        }
    }

    /// An RFC 8941 non-negative Integer item (at most 15 digits); anything else is ignored (nil).
    public static func integer(_ value: String) -> Int64? {
        let text = value.trimmingCharacters(" ")
        guard text.utf8.count <= 15 else { return nil }
        return ASCIIDecimal.parse(text)
    }

    /// `Upload-Limit`, a Dictionary: the largest upload accepted, no
    /// smallest, and, with `--expire-after`, how long an idle upload lives
    /// (`expires` in version 6, `max-age` from version 7 on).
    public static func limit(maxSize: Int64, lifetime seconds: Int64? = nil, version6: Bool = false) -> String {
        var members = ["max-size=\(maxSize)", "min-size=0"]
        if let seconds { members.append("\(version6 ? "expires" : "max-age")=\(seconds)") }
        return members.joined(separator: ", ")
    }
}

extension String {
    fileprivate func trimmingCharacters(_ character: Character) -> Substring {
        self[...].trimmingCharacters(character)
    }
}
