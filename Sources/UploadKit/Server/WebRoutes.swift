import HTTPTypes
import Hummingbird
import NIOCore

/// The browser uploader (Sources/UploadKit/Web), embedded in the binary at
/// build time: nothing to install beside it and no build step for a user.
/// The page and its scripts need no token (the page asks for one); what
/// they call under /uploads does.
enum WebRoutes {
    struct Asset: Sendable {
        let bytes: [UInt8]
        let contentType: String
    }

    /// `/web/NAME`. Browsers run module scripts and workers only when served
    /// as JavaScript.
    static let assets: [String: Asset] = [
        "index.html": Asset(bytes: PackageResources.index_html, contentType: "text/html; charset=utf-8"),
        "style.css": Asset(bytes: PackageResources.style_css, contentType: "text/css; charset=utf-8"),
        "uploader.js": Asset(bytes: PackageResources.uploader_js, contentType: "text/javascript; charset=utf-8"),
        "upload-view.js": Asset(bytes: PackageResources.upload_view_js, contentType: "text/javascript; charset=utf-8"),
        "format.js": Asset(bytes: PackageResources.format_js, contentType: "text/javascript; charset=utf-8"),
        // The engine as one ES module, for this page and an application's own (README).
        "uploadverify.js": Asset(bytes: PackageResources.uploadverify_js, contentType: "text/javascript; charset=utf-8"),
        "upload-session.js": Asset(bytes: PackageResources.upload_session_js, contentType: "text/javascript; charset=utf-8"),
        "resume-memory.js": Asset(bytes: PackageResources.resume_memory_js, contentType: "text/javascript; charset=utf-8"),
        "hashing.js": Asset(bytes: PackageResources.hashing_js, contentType: "text/javascript; charset=utf-8"),
        "protocol.js": Asset(bytes: PackageResources.protocol_js, contentType: "text/javascript; charset=utf-8"),
        "worker-queue.js": Asset(bytes: PackageResources.worker_queue_js, contentType: "text/javascript; charset=utf-8"),
        "sha256.js": Asset(bytes: PackageResources.sha256_js, contentType: "text/javascript; charset=utf-8"),
        "hash-worker.js": Asset(bytes: PackageResources.hash_worker_js, contentType: "text/javascript; charset=utf-8"),
    ]

    /// Paths served without a token.
    static func isPublic(_ path: String) -> Bool { path == "/" || path.hasPrefix("/web/") }

    static func register(on router: Router<UploadRequestContext>) {
        router.get("/") { _, _ in response(assets["index.html"]!) }
        router.get("web/:name") { _, context in
            guard let name = context.parameters.get("name"), let asset = assets[name] else { throw Problem.noSuchPage }
            return response(asset)
        }
    }

    private static func response(_ asset: Asset) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: asset.contentType,
                .cacheControl: "no-cache",
                HTTPField.Name("X-Content-Type-Options")!: "nosniff",
                // Only this server's own scripts, workers and API: no third party can be pulled in.
                HTTPField.Name("Content-Security-Policy")!:
                    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }
}
