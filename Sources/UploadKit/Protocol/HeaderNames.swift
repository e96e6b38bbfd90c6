import HTTPTypes

/// The protocol's own header fields.
extension HTTPField.Name {
    static let uploadLength = Self("Upload-Length")!
    static let uploadChunkSize = Self("Upload-Chunk-Size")!
    static let uploadOffset = Self("Upload-Offset")!
    static let uploadReceived = Self("Upload-Received")!
    static let uploadChunks = Self("Upload-Chunks")!
    static let uploadComplete = Self("Upload-Complete")!
    static let uploadMetadata = Self("Upload-Metadata")!
    static let reprDigest = Self("Repr-Digest")!
    static let contentDigest = Self("Content-Digest")!
    static let expect = Self("Expect")!
}

/// tus 1.0.0's header fields (https://tus.io/protocols/resumable-upload).
extension HTTPField.Name {
    static let tusResumable = Self("Tus-Resumable")!
    static let tusVersion = Self("Tus-Version")!
    static let tusExtension = Self("Tus-Extension")!
    static let tusMaxSize = Self("Tus-Max-Size")!
    static let tusChecksumAlgorithm = Self("Tus-Checksum-Algorithm")!
    static let uploadChecksum = Self("Upload-Checksum")!
    static let uploadDeferLength = Self("Upload-Defer-Length")!
    static let uploadExpires = Self("Upload-Expires")!
    static let uploadConcat = Self("Upload-Concat")!
    static let httpMethodOverride = Self("X-HTTP-Method-Override")!
}

/// The IETF draft "Resumable Uploads for HTTP" (draft-ietf-httpbis-resumable-upload).
extension HTTPField.Name {
    static let uploadDraftInteropVersion = Self("Upload-Draft-Interop-Version")!
    static let uploadLimit = Self("Upload-Limit")!
    static let acceptPatch = Self("Accept-Patch")!
}
