import Testing
import UploadKit

/// `Content-Range: bytes S-E/T` is parsed strictly: case-insensitive unit,
/// exactly one space, ASCII decimal digits only, overflow reported, never trapped.
@Suite struct ContentRangeTests {
    @Test func aWellFormedRangeParsesToItsBytesAndLength() throws {
        let range = try ContentRange.parse("bytes 0-99/100")
        #expect(range.range == ByteRange(offset: 0, length: 100))
        #expect(range.completeLength == 100)
    }

    @Test func theUnitIsCaseInsensitive() throws {
        #expect(try ContentRange.parse("BYTES 0-99/100") == ContentRange(range: ByteRange(offset: 0, length: 100), completeLength: 100))
        #expect(try ContentRange.parse("Bytes 65536-131071/200000").range == ByteRange(offset: 65_536, length: 65_536))
    }

    @Test func aRangeFormatsBackAsItsHeaderValue() throws {
        #expect(try ContentRange.parse("BYTES 100-199/1000").headerValue == "bytes 100-199/1000")
    }

    @Test(arguments: [
        "bytes +0-99/100",  // a sign: Int("+0") would accept it
        "bytes 0-+99/100",
        "bytes 0-99/+100",
        "bytes -0-99/100",
        "bytes 0x0-0x63/100",  // hex
        "bytes 0-99/0x64",
        "bytes ０-９９/１００",  // full-width digits
        "bytes ٠-٩٩/١٠٠",  // Arabic-Indic digits
        "ｂｙｔｅｓ 0-99/100",  // a full-width unit
        "bytes  0-99/100",  // two spaces
        "bytes\t0-99/100",
        "bytes=0-99/100",
        "bytes 0-99/100 ",
        "bytes 0 -99/100",
        "bytes 0-99/*",  // unknown length
        "bytes */100",  // the unsatisfied-range form is for responses
        "items 0-99/100",  // another unit
        "bytes 0-1/100, 2-3/100",  // a list
        "bytes -99/100",
        "bytes 0-/100",
        "bytes 0-99/",
        "bytes 0-99",
        "bytes ",
        "",
    ])
    func anythingButDecimalDigitsInTheExactFormIsMalformed(_ value: String) {
        #expect(throws: ContentRangeError.malformed(value)) { try ContentRange.parse(value) }
    }

    @Test(arguments: [
        "bytes 12345678901234567890-12345678901234567891/12345678901234567892",  // 20 digits
        "bytes 0-99/12345678901234567890",
        "bytes 0-123456789012345678901234567890/123456789012345678901234567891",  // 30 digits
        "bytes 123456789012345678901234567890-0/100",
        "bytes 0-99/9223372036854775808",  // Int64.max + 1
        "bytes 9223372036854775808-9223372036854775808/9223372036854775809",
        "bytes 0-18446744073709551616/18446744073709551617",  // UInt64.max + 1
    ])
    func numbersTooLargeForSixtyFourBitsAreMalformedWithoutTrapping(_ value: String) {
        #expect(throws: ContentRangeError.malformed(value)) { try ContentRange.parse(value) }
    }

    @Test func theLargestRepresentableRangeParsesWithoutTrapping() throws {
        let whole = try ContentRange.parse("bytes 0-9223372036854775806/9223372036854775807")
        #expect(whole.range.length == Int64.max)
        let last = try ContentRange.parse("bytes 9223372036854775806-9223372036854775806/9223372036854775807")
        #expect(last.range == ByteRange(offset: Int64.max - 1, length: 1))
    }

    @Test func anInvertedRangeIsUnsatisfiable() {
        #expect(throws: ContentRangeError.unsatisfiable("bytes 5-4/100", completeLength: 100)) { try ContentRange.parse("bytes 5-4/100") }
    }

    @Test func aRangeEndingPastItsOwnLengthIsUnsatisfiable() {
        #expect(throws: ContentRangeError.unsatisfiable("bytes 0-99/50", completeLength: 50)) { try ContentRange.parse("bytes 0-99/50") }
        #expect(throws: ContentRangeError.unsatisfiable("bytes 0-100/100", completeLength: 100)) { try ContentRange.parse("bytes 0-100/100") }
        #expect(throws: ContentRangeError.unsatisfiable("bytes 0-0/0", completeLength: 0)) { try ContentRange.parse("bytes 0-0/0") }
    }

    @Test func theLargestLastBytePositionIsUnsatisfiableNotATrap() {
        let value = "bytes 0-9223372036854775807/9223372036854775807"
        #expect(throws: ContentRangeError.unsatisfiable(value, completeLength: Int64.max)) { try ContentRange.parse(value) }
    }
}
