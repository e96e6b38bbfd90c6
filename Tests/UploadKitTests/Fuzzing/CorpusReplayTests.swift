import Foundation
import Testing
import UploadKit

/// Every input the fuzzers kept (Fuzz/Corpus) and every input that ever
/// crashed one (Fuzz/Crashes) is run again on each test run: a parser that
/// traps on any of them fails the suite by crashing it.
@Suite struct CorpusReplayTests {
    static let fuzzFolder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func inputs(_ target: FuzzTarget, in folder: String) throws -> [URL] {
        let directory = fuzzFolder.appendingPathComponent(folder).appendingPathComponent(target.rawValue)
        return try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyCorpusInputIsRefusedOrRoundTripsWithoutTrapping(_ target: FuzzTarget) throws {
        let corpus = try Self.inputs(target, in: "Corpus")
        #expect(corpus.count >= 10, "the \(target.rawValue) corpus has \(corpus.count) inputs")
        for input in corpus { target.run([UInt8](try Data(contentsOf: input))) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyInputThatOnceCrashedAFuzzerNoLongerDoes(_ target: FuzzTarget) throws {
        for input in try Self.inputs(target, in: "Crashes") { target.run([UInt8](try Data(contentsOf: input))) }
    }

    @Test func theSeedsExerciseBothVerdicts() throws {
        // A corpus of refusals only would never reach the round trips.
        #expect((try? ContentRange.parse("bytes 0-99/100")) != nil)
        #expect((try? ContentRange.parse("bytes +0-99/100")) == nil)
        #expect(UploadID("0123456789abcdef0123456789abcdef") != nil)
        #expect(UploadID("../../etc/passwd") == nil)
        let maps = try Self.inputs(.chunkMap, in: "Corpus").filter { $0.pathExtension == "chunkmap" }
        #expect(maps.allSatisfy { (try? ChunkMapCodec.decode([UInt8](try Data(contentsOf: $0)))) != nil }, "the untouched maps decode")
    }
}
