// swift-tools-version:6.2
// libFuzzer targets for the parsers of untrusted bytes (see UploadKit's
// FuzzTarget). A package of their own, because a libFuzzer entry point has
// no main and would not link in the product's normal build:
//
//   cd Fuzz && swift build -c release --sanitize=fuzzer --sanitize=address --scratch-path ../.build-fuzz
//   ../.build-fuzz/release/FuzzContentRange Corpus/content-range -max_total_time=600 -artifact_prefix=Crashes/content-range/
//
// `make fuzz` does both for every target; `make test` replays Corpus/ and Crashes/.
import PackageDescription

let targets = ["ContentRange", "DigestField", "UploadID", "ChunkMap"]

let package = Package(
    name: "uploadverify-fuzz",
    platforms: [.macOS(.v14)],
    // The product, through a link `make fuzz` makes: a path dependency is named
    // after its folder, and a clone's folder may have any name.
    dependencies: [.package(path: "../.build-fuzz/uploadverify")],
    targets: targets.map { name in
        .executableTarget(
            name: "Fuzz\(name)",
            dependencies: [.product(name: "UploadKit", package: "uploadverify")],
            path: "Sources/Fuzz\(name)",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    },
    swiftLanguageModes: [.v6]
)
