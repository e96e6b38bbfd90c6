import UploadKit

/// A walked tree as `map DIR` and `verify DIR` see it: the files, each
/// with or without its `FILE.chunkmap`, and the sidecars (`.chunkmap`,
/// `.parity`) that belong to no file, which say a file has gone.
struct SidecarFiles {
    static let suffixes = [".chunkmap", ".parity"]

    /// Regular files that are not the sidecar of a file beside them.
    let files: [FileTree.Entry]
    /// `FILE.chunkmap` where FILE is not there.
    let orphanMaps: [FileTree.Entry]
    /// `FILE.parity` where FILE is not there.
    let orphanParity: [FileTree.Entry]
    /// Everything else the walk reported: links, special files, what could not be read.
    let others: [FileTree.Entry]
    private let mapped: Set<String>

    init(_ entries: [FileTree.Entry]) {
        var regular = Set<String>()
        for entry in entries { if case .file = entry.kind { regular.insert(entry.path) } }
        var files = [FileTree.Entry]()
        var orphans = [FileTree.Entry]()
        var orphanParity = [FileTree.Entry]()
        var others = [FileTree.Entry]()
        var mapped = Set<String>()
        for entry in entries {
            guard case .file = entry.kind else {
                others.append(entry)
                continue
            }
            guard let suffix = Self.suffixes.first(where: { entry.path.hasSuffix($0) }) else {
                files.append(entry)
                continue
            }
            let owner = String(entry.path.dropLast(suffix.count))
            if regular.contains(owner) {
                if suffix == ".chunkmap" { mapped.insert(owner) }
            } else if suffix == ".chunkmap" {
                orphans.append(entry)
            } else {
                orphanParity.append(entry)
            }
        }
        self.files = files
        orphanMaps = orphans
        self.orphanParity = orphanParity
        self.others = others
        self.mapped = mapped
    }

    func hasMap(_ file: FileTree.Entry) -> Bool { mapped.contains(file.path) }

    /// The line for an entry the walk did not give as a file.
    static func line(for entry: FileTree.Entry) -> (line: String, status: ExitStatus) {
        switch entry.kind {
        case .skipped(let reason): ("\(entry.path): skipped, \(reason)", .ok)
        case .unreadable(let reason): ("\(entry.path): cannot be read: \(reason)", .badInput)
        case .file: ("\(entry.path)", .ok)
        }
    }
}
