import Testing
import UploadKit

@Suite struct ByteCountTests {
    @Test(arguments: [
        ("8MiB", Int64(8 << 20)), ("64KiB", 65536), ("1048576", 1_048_576), ("8 MiB", 8 << 20),
        ("8mib", 8 << 20), ("1GB", 1_000_000_000), ("1G", 1 << 30), ("2TiB", 2 << 40), ("0", 0), ("512B", 512),
    ])
    func parsesDigitsWithOptionalUnit(text: String, bytes: Int64) throws {
        #expect(try ByteCount(parsing: text).bytes == bytes)
    }

    @Test(arguments: ["", "MiB", "+5", "-1", "0x10", "１２", " 8MiB", "8.5MiB", "8 M iB"])
    func refusesWhatIsNotDigitsAndAUnit(text: String) {
        #expect(throws: ByteCountError.self) { try ByteCount(parsing: text) }
    }

    @Test func refusesAnUnknownUnit() {
        #expect(throws: ByteCountError.unknownUnit("8XB")) { try ByteCount(parsing: "8XB") }
    }

    @Test(arguments: ["99999999999999999999", "9223372036854775807KiB", "9223372036854775808"])
    func reportsOverflowInsteadOfTrapping(text: String) {
        #expect(throws: ByteCountError.tooLarge(text)) { try ByteCount(parsing: text) }
    }

    @Test func printsForPeople() {
        #expect(ByteCount.mebibytes(8).description == "8 MiB")
        #expect(ByteCount(100).description == "100 B")
        #expect(ByteCount(1536).description == "1.5 KiB")
    }

    @Test func decimalParserRefusesSignsAndNonASCIIDigits() {
        #expect(ASCIIDecimal.parse("+1") == nil)
        #expect(ASCIIDecimal.parse("١") == nil)
        #expect(ASCIIDecimal.parse("") == nil)
        #expect(ASCIIDecimal.parse("9223372036854775807") == Int64.max)
        #expect(ASCIIDecimal.parse("9223372036854775808") == nil)
    }
}
