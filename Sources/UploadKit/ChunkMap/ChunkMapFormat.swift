/// The `.chunkmap` binary format, version 2. Byte by byte in the README and
/// docs/PROTOCOL.md; every integer is big-endian. Version 2 gives meaning to
/// 8 bytes of the status record that version 1 kept zero (the append
/// offset); the layout is the same, so maps of version 1 still read, with
/// an append offset of 0.
///
/// ```
/// [header 128 B][status 64 B][metadata, padded to 16 B][entry 16 B] x chunkCount
/// ```
///
/// Each part carries its own check, so damage is found where it is: a damaged
/// header refuses the whole map, a damaged status record reads as
/// "receiving, SHA-256 unknown", a damaged entry reads as `missing`. Checks
/// of the status and entries are seeded with the header's check, and an
/// entry's also with its index, so a stale or misplaced record never passes.
public enum ChunkMapFormat {
    public static let magic: [UInt8] = [0x89, 0x55, 0x56, 0x4D, 0x41, 0x50, 0x0D, 0x0A]  // "\x89UVMAP\r\n"
    /// The version this code writes.
    public static let version: UInt16 = 2
    /// Every version this code reads.
    public static let readableVersions: ClosedRange<UInt16> = 1...2
    public static let headerSize = 128
    public static let statusSize = 64
    public static let entrySize = 16
    public static let algorithmXXH3_64: UInt8 = 1
    public static let maximumMetadataLength = 16 * 1024
    public static let mediaType = "application/vnd.uploadverify.chunkmap"

    static let statusOffset = headerSize
    static let metadataOffset = headerSize + statusSize

    static func entriesOffset(metadataLength: Int) -> Int {
        metadataOffset + (metadataLength + 15) / 16 * 16
    }
}
