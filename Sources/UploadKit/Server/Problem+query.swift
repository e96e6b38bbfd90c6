import HTTPTypes

extension Problem {
    /// 400 for a query that `GET /uploads` does not take, naming what it takes.
    static func invalidQuery(_ error: UploadListQueryError) -> Problem {
        Problem(.badRequest, "invalid-query", title: "Invalid query", detail: error.description)
    }

    /// 400 for a query parameter of another route with a value it does not take.
    static func badQuery(_ name: String, _ detail: String) -> Problem {
        Problem(.badRequest, "invalid-query", title: "Invalid query", detail: "\(name): \(detail)")
    }
}

extension Problem {
    /// 400 for a query that the blocks of a chunk do not take, naming what they take.
    static func invalidBlockQuery(_ error: BlockQueryError) -> Problem {
        Problem(.badRequest, "invalid-query", title: "Invalid query", detail: error.description)
    }
}
