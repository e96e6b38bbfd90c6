/// The query of `GET /uploads/{id}/chunks/{index}/blocks`: `size`, at most
/// once, decimal digits (default 64 KiB), a power of two from 4 KiB to the
/// upload's chunk size. Strict, as `GET /uploads` is: a misspelt
/// `blocksize=` is refused rather than answered in the default size.
struct BlockQuery: Sendable, Equatable {
    var blockSize = ChunkBlocks.defaultBlockSize

    /// `parameters` as the URI gives them, values percent-decoded.
    init(parsing parameters: [(key: String, value: String)], chunkSize: Int64) throws(BlockQueryError) {
        var seen = false
        for (key, value) in parameters {
            guard key == "size" else { throw .unknownParameter(key) }
            guard !seen else { throw .repeated }
            seen = true
            // Digits only (no sign, no unit), as every number of the contract.
            guard !value.isEmpty, value.utf8.allSatisfy({ (48...57).contains($0) }), let size = ASCIIDecimal.parse(value) else {
                throw .notANumber(value)
            }
            blockSize = size
        }
        do throws(BlockSizeError) {
            try ChunkBlocks.check(blockSize, chunkSize: chunkSize)
        } catch {
            throw .badSize(error)
        }
    }
}

/// Why a block query is refused, saying what would be accepted.
enum BlockQueryError: Error, Equatable, CustomStringConvertible {
    case unknownParameter(String)
    case repeated
    case notANumber(String)
    case badSize(BlockSizeError)

    var description: String {
        switch self {
        case .unknownParameter(let key):
            "unknown query parameter '\(key)': the blocks of a chunk take only size (a block size in bytes)"
        case .repeated:
            "query parameter 'size' is given more than once"
        case .notANumber(let value):
            "size '\(value)' is not a byte count in decimal digits, e.g. size=65536"
        case .badSize(let error):
            error.description
        }
    }
}
