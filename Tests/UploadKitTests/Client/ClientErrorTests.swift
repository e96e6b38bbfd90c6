import Testing
import UploadKit

@Suite struct ClientErrorTests {
    /// A SHA-256 mismatch says which digest is the local file's and which
    /// the confirmed one (the server's, or a local repair's source's).
    @Test func aSHA256MismatchNamesTheLocalFilesDigestAndTheConfirmedOne() {
        let local = SHA256Hasher.hash([UInt8]([1, 2, 3]))
        let confirmed = SHA256Hasher.hash([UInt8]([4, 5, 6]))
        let message = ClientError.sha256Mismatch(local: local, confirmed: confirmed).description
        #expect(message.contains("the local file's SHA-256 is \(local)"), "\(message)")
        #expect(message.contains("the confirmed one (the server's, or for a local repair the source's) is \(confirmed)"), "\(message)")
    }
}
