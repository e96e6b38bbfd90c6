/// The chunk map as JSON: the body of `GET /uploads/{id}/chunks`, and what
/// `map show --json` prints.
public struct ChunkMapDocument: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public let index: Int
        public let offset: Int64
        public let length: Int64
        public let state: String
        public let xxh3: String?

        /// Writes `xxh3: null` for a chunk without a digest, rather than leaving the key out.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encode(offset, forKey: .offset)
            try container.encode(length, forKey: .length)
            try container.encode(state, forKey: .state)
            try container.encode(xxh3, forKey: .xxh3)
        }
    }

    public let size: Int64
    public let chunkSize: Int64
    public let chunkCount: Int
    public let algorithm: String
    public let state: String
    public let sha256: String?
    public let chunks: [Entry]

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(size, forKey: .size)
        try container.encode(chunkSize, forKey: .chunkSize)
        try container.encode(chunkCount, forKey: .chunkCount)
        try container.encode(algorithm, forKey: .algorithm)
        try container.encode(state, forKey: .state)
        try container.encode(sha256, forKey: .sha256)
        try container.encode(chunks, forKey: .chunks)
    }

    public init(_ map: ChunkMap) {
        size = map.layout.fileSize.bytes
        chunkSize = map.layout.chunkSize.bytes
        chunkCount = map.layout.chunkCount
        algorithm = "xxh3-64"
        state = map.status.state.rawValue
        sha256 = map.status.sha256?.description
        chunks = map.layout.indices.map { index in
            let range = map.layout.range(of: index)
            return Entry(
                index: index.value, offset: range.offset, length: range.length,
                state: map[index].name, xxh3: map[index].digest?.description)
        }
    }
}
