import ArgumentParser
import SystemPackage
import UploadKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The contract's exit codes, and the one place errors become them.
enum ExitStatus: Int32 {
    case ok = 0
    case integrityProblem = 1
    case badInput = 2
    case failure = 3

    /// Prints one line for `error` on stderr and exits with its code.
    static func exit(reporting error: any Error) -> Never {
        if let code = error as? ExitCode {
            Glibc.exit(code.rawValue)
        }
        if let (status, message) = classify(error) {
            Terminal.standardError.writeLine("uploadverify: \(message)")
            Glibc.exit(status.rawValue)
        }
        // argument-parser's own errors: help and version exit 0, the rest are usage errors.
        let message = UploadVerify.fullMessage(for: error)
        if UploadVerify.exitCode(for: error) == .success {
            print(message)
            Glibc.exit(ExitStatus.ok.rawValue)
        }
        Terminal.standardError.writeLine(message)
        Glibc.exit(ExitStatus.badInput.rawValue)
    }

    /// One file's failure among many (`upload DIR`, `verify DIR`): its code and its line.
    static func describe(_ error: any Error) -> (status: ExitStatus, message: String) {
        classify(error) ?? (.failure, "\(error)")
    }

    /// The exit code of a command over many files: an integrity problem
    /// anywhere outranks a failure to do the work, which outranks bad input.
    static func worst(_ statuses: some Sequence<ExitStatus>) -> ExitStatus {
        let rank: [ExitStatus: Int] = [.ok: 0, .badInput: 1, .failure: 2, .integrityProblem: 3]
        return statuses.max { rank[$0]! < rank[$1]! } ?? .ok
    }

    private static func classify(_ error: any Error) -> (ExitStatus, String)? {
        switch error {
        case let error as CommandFailure: (error.status, error.message)
        case let error as ByteCountError: (.badInput, error.description)
        case let error as ChunkLayoutError: (.badInput, error.description)
        case let error as DigestParseError: (.badInput, error.description)
        case let error as ChunkMapDiffError: (.badInput, error.description)
        case let error as IOError: (status(of: error), error.description)
        case let error as ChunkMapFileError:
            switch error {
            case .invalid: (.badInput, error.description)
            case .io(let io): (status(of: io), io.description)
            }
        case let error as FileScanError:
            switch error {
            case .io(let io): (status(of: io), io.description)
            case .endedEarly: (.failure, error.description)
            }
        case let error as ClientError: (status(of: error), error.description)
        case let error as DownloadError: (status(of: error), error.description)
        case let error as UploadError: (.failure, error.description)
        case let error as TLSSetupError: (.badInput, error.description)
        case let error as CrashSwitchError: (.badInput, error.description)
        case let error as UploadManifestError: (.badInput, error.description)
        default: nil
        }
    }

    private static func status(of error: ClientError) -> ExitStatus {
        switch error {
        case .notAnUploadURL, .notAServerURL, .sizeMismatch: .badInput
        case .fileChanged, .sha256Mismatch, .cannotRepair, .chunkArrivedWrong: .integrityProblem
        case .local(let io): status(of: io)
        case .server(_, _, _) where ["chunks-corrupt", "sha256-mismatch", "data-size-mismatch"].contains(error.problemSlug ?? ""):
            .integrityProblem
        case .server, .unreachable, .badAnswer: .failure
        }
    }

    /// An upload with nothing confirmed to give is an integrity problem left
    /// (as a damaged or incomplete repair source is); an output the download
    /// must not take over is bad input.
    private static func status(of error: DownloadError) -> ExitStatus {
        switch error {
        case .notComplete, .changedOnDisk: .integrityProblem
        case .wouldOverwrite, .notAFile: .badInput
        }
    }

    /// A path that cannot be opened is bad input; a failure while reading or
    /// writing is an I/O error.
    private static func status(of error: IOError) -> ExitStatus {
        let badPath: Set<Errno> = [
            .noSuchFileOrDirectory, .notDirectory, .isDirectory, .permissionDenied, .notPermitted, .fileNameTooLong, .tooManySymbolicLinkLevels,
        ]
        return error.operation == "open" && badPath.contains(error.errno) ? .badInput : .failure
    }
}

/// A command's own failure: one line for a person, and its exit code.
struct CommandFailure: Error {
    let status: ExitStatus
    let message: String

    static func badInput(_ message: String) -> CommandFailure { CommandFailure(status: .badInput, message: message) }
}
