import HTTPTypes
import Hummingbird

extension UploadRoutes {
    /// `GET /uploads`: one page of the uploads in the data directory, by id,
    /// with `Link: <…>; rel="next"` while more follow. The store reads the
    /// maps; this only reads the query and writes the page.
    @Sendable func listUploads(_ request: Request, context: UploadRequestContext) async throws -> Response {
        let query: UploadListQuery
        do throws(UploadListQueryError) {
            query = try UploadListQuery(parsing: request.uri.queryParameters.map { (key: String($0.key), value: String($0.value)) })
        } catch {
            throw Problem.invalidQuery(error)
        }
        let page = try await store.list(after: query.cursor, limit: query.limit, state: query.state)
        var headers = HTTPFields()
        if let next = page.next { headers[.link] = "<\(query.nextPage(after: next))>; rel=\"next\"" }
        return try Self.json(UploadListDocument(page), headers: headers)
    }
}

extension HTTPField.Name {
    /// RFC 8288.
    static let link = Self("Link")!
}
