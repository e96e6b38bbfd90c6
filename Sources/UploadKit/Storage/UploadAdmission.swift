/// Whether a new upload may be created. A sparse data file takes no disk
/// until its chunks arrive, so a creation is checked against the free disk
/// minus what every open upload still needs (else ten thousand huge
/// creations would each see the whole disk free), and against a limit on
/// how many may be open at once. The open uploads are those in the data
/// directory, whichever process created them.
enum UploadAdmission {
    /// Admits an upload of `length` bytes, given the bytes each open upload
    /// may still write and the disk's free bytes.
    static func check(length: Int64, open stillNeeded: [Int64], available: Int64, limit: Int) throws(UploadError) {
        guard stillNeeded.count < limit else { throw .tooManyUploads(limit: limit) }
        let free = max(0, available - stillNeeded.reduce(0, +))
        guard free >= length else { throw .insufficientStorage(needed: length, available: free) }
    }
}
