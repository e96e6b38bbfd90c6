import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import UploadKit

/// The browser page is in the binary and served as a browser needs it.
@Suite struct WebPageTests {
    @Test func thePageIsServedAtTheRootWithItsQueryString() async throws {
        try await ServerFixture().run { api in
            let response = try await api.request(.get, "/?concurrency=3&chunkSize=1MiB")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/html; charset=utf-8")
            #expect(String(buffer: response.body).contains("<script type=\"module\" src=\"/web/uploader.js\">"))
        }
    }

    @Test(arguments: [
        "uploader.js", "upload-view.js", "format.js", "uploadverify.js", "upload-session.js", "resume-memory.js",
        "hashing.js", "protocol.js", "worker-queue.js", "sha256.js", "hash-worker.js",
    ])
    func everyScriptIsServedAsJavaScriptOrBrowsersRefuseIt(_ name: String) async throws {
        try await ServerFixture().run { api in
            let response = try await api.request(.get, "/web/\(name)")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/javascript; charset=utf-8")
            #expect(response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            #expect(response.body.readableBytes > 500)
        }
    }

    @Test func theEngineIsServedAsOneModuleThatReExportsTheSession() async throws {
        try await ServerFixture().run { api in
            let response = try await api.request(.get, "/web/uploadverify.js")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/javascript; charset=utf-8")
            let module = String(buffer: response.body)
            #expect(module.contains("export { UploadSession"))
            #expect(module.contains("from './upload-session.js'"))
        }
    }

    @Test func theStylesheetIsServedAsCSS() async throws {
        try await ServerFixture().run { api in
            let response = try await api.request(.get, "/web/style.css")
            #expect(response.headers[.contentType] == "text/css; charset=utf-8")
        }
    }

    @Test func onlyThisServerMayProvideScripts() async throws {
        try await ServerFixture().run { api in
            let policy = try await api.request(.get, "/").headers[HTTPField.Name("Content-Security-Policy")!]
            #expect(policy?.hasPrefix("default-src 'self'") == true)
        }
    }

    @Test(arguments: ["/web/nope.js", "/web/types.d.ts", "/web/..%2fPackage.swift"])
    func aFileThatIsNotPartOfThePageIs404(_ path: String) async throws {
        try await ServerFixture().run { api in
            try expectProblem(try await api.request(.get, path), .notFound)
        }
    }

    @Test func thePageNeedsNoTokenButTheUploadsUnderItDo() async throws {
        try await ServerFixture { $0.token = "s3cret" }.run { api in
            let page = try await api.request(.get, "/")
            let script = try await api.request(.get, "/web/uploader.js")
            #expect(page.status == .ok && script.status == .ok)
            try expectProblem(try await api.create([.uploadLength: "10"]), .unauthorized, type: "unauthorized")
        }
    }
}
