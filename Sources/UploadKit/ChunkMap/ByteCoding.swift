/// Appends big-endian integers and raw bytes.
struct ByteWriter {
    private(set) var bytes: [UInt8]

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }
    mutating func appendZeros(_ count: Int) { bytes.append(contentsOf: repeatElement(0, count: count)) }
}

/// Reads big-endian integers from a buffer whose length the caller checked.
struct ByteReader {
    private let bytes: [UInt8]
    private var position = 0

    init<C: Collection<UInt8>>(_ bytes: C) { self.bytes = Array(bytes) }

    mutating func read<T: FixedWidthInteger>() -> T {
        let size = MemoryLayout<T>.size
        precondition(position + size <= bytes.count, "read past a record the caller sized")
        let value = bytes[position..<position + size].reduce(T.zero) { $0 << 8 | T($1) }
        position += size
        return value
    }

    mutating func readBytes(_ count: Int) -> [UInt8] {
        precondition(position + count <= bytes.count, "read past a record the caller sized")
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    mutating func skip(_ count: Int) { position += count }
}
