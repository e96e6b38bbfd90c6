import ArgumentParser

/// Commands of the contract that later work delivers. Each is listed in
/// `--help`, and says so and exits 2 when run.
enum NotBuiltYet {
    static func feature(_ what: String, comesWith: String) -> CommandFailure {
        .badInput("\(what) is not built yet: it comes with \(comesWith)")
    }
}

extension UploadVerify {



}
