import Testing
import UploadKit

/// `Range: bytes=…` for downloads: one range served, the rest ignored as RFC 9110 allows.
@Suite struct RangeRequestTests {
    @Test(arguments: [
        ("bytes=0-99", ByteRange(offset: 0, length: 100)),
        ("bytes=900-", ByteRange(offset: 900, length: 100)),
        ("bytes=-10", ByteRange(offset: 990, length: 10)),
        ("bytes=-5000", ByteRange(offset: 0, length: 1000)),
        ("bytes=990-5000", ByteRange(offset: 990, length: 10)),
        ("Bytes=0-0", ByteRange(offset: 0, length: 1)),
    ])
    func aRangeThatNamesBytesOfTheFileIsServed(_ header: String, _ range: ByteRange) {
        #expect(RangeRequest.parse(header, fileSize: 1000) == .satisfiable(range))
    }

    @Test(arguments: ["bytes=1000-", "bytes=1000-1001", "bytes=-0"])
    func aValidRangeThatNamesNoByteIsUnsatisfiable(_ header: String) {
        #expect(RangeRequest.parse(header, fileSize: 1000) == .unsatisfiable)
    }

    @Test(arguments: ["bytes=5-4", "bytes=0-1,5-6", "items=0-1", "bytes=a-b", "bytes=", "bytes=99999999999999999999-"])
    func anInvalidRangeIsIgnoredAndTheWholeFileServed(_ header: String) {
        #expect(RangeRequest.parse(header, fileSize: 1000) == .whole)
    }
}
