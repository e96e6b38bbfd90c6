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
