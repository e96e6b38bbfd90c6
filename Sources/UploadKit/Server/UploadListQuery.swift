/// The query of `GET /uploads`: `state`, `limit` and `cursor`, each at most
/// once. Strict, so that a misspelt filter (`states=damaged`) is refused
/// rather than silently listing everything.
struct UploadListQuery: Sendable, Equatable {
    static let defaultLimit = 100
    static let maximumLimit = 1000

    var state: ListedState?
    var limit = UploadListQuery.defaultLimit
    /// The last id of the previous page (the `next` the server gave).
    var cursor: UploadID?

    /// `parameters` as the URI gives them, values percent-decoded.
    init(parsing parameters: [(key: String, value: String)]) throws(UploadListQueryError) {
        var seen = Set<String>()
        for (key, value) in parameters {
            guard seen.insert(key).inserted else { throw .repeated(key) }
            switch key {
            case "state":
                guard let state = ListedState(rawValue: value) else { throw .badState(value) }
                self.state = state
            case "limit":
                // Digits only (no sign, no spaces), as every number of the contract.
                guard !value.isEmpty, value.utf8.allSatisfy({ (48...57).contains($0) }), let limit = Int(value),
                    (1...Self.maximumLimit).contains(limit)
                else { throw .badLimit(value) }
                self.limit = limit
            case "cursor":
                guard let cursor = UploadID(value) else { throw .badCursor(value) }
                self.cursor = cursor
            default:
                throw .unknownParameter(key)
            }
        }
    }

    /// The path and query of the page after `last`, this query's filter
    /// and limit kept: what the `Link: <…>; rel="next"` header names.
    func nextPage(after last: UploadID) -> String {
        var query = ["limit=\(limit)"]
        if let state { query.append("state=\(state.rawValue)") }
        query.append("cursor=\(last.rawValue)")
        return "/uploads?" + query.joined(separator: "&")
    }
}

/// Why a `GET /uploads` query is refused, saying what would be accepted.
enum UploadListQueryError: Error, Equatable, CustomStringConvertible {
    case unknownParameter(String)
    case repeated(String)
    case badState(String)
    case badLimit(String)
    case badCursor(String)

    var description: String {
        switch self {
        case .unknownParameter(let key):
            "unknown query parameter '\(key)': GET /uploads takes state, limit and cursor"
        case .repeated(let key):
            "query parameter '\(key)' is given more than once"
        case .badState(let value):
            "state '\(value)' is none of " + ListedState.allCases.map(\.rawValue).joined(separator: ", ")
        case .badLimit(let value):
            "limit '\(value)' is not a whole number from 1 to \(UploadListQuery.maximumLimit)"
        case .badCursor(let value):
            "cursor '\(value)' is not one this server gives: pass the 'next' of the previous page as it is"
        }
    }
}
