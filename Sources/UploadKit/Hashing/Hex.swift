/// Lowercase hexadecimal, as `xxhsum` and `sha256sum` print it.
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes exactly `byteCount` bytes of hex (either case).
    static func decode(_ text: String, byteCount: Int) throws(DigestParseError) -> [UInt8] {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count == byteCount * 2 else {
            throw .wrongLength(text, expectedDigits: byteCount * 2)
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(byteCount)
        var index = 0
        while index < scalars.count {
            guard let high = nibble(scalars[index]), let low = nibble(scalars[index + 1]) else {
                throw .notHex(text)
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ scalar: Unicode.Scalar) -> UInt8? {
        switch scalar {
        case "0"..."9": return UInt8(scalar.value - 48)
        case "a"..."f": return UInt8(scalar.value - 87)
        case "A"..."F": return UInt8(scalar.value - 55)
        default: return nil
        }
    }
}

public enum DigestParseError: Error, Equatable, CustomStringConvertible {
    case wrongLength(String, expectedDigits: Int)
    case notHex(String)

    public var description: String {
        switch self {
        case .wrongLength(let text, let digits):
            return "'\(text)' is \(text.unicodeScalars.count) characters long; a digest here is \(digits) hex digits"
        case .notHex(let text):
            return "'\(text)' is not hexadecimal: use the digits 0-9 and a-f"
        }
    }
}
