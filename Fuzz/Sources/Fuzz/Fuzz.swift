import UploadKit

#if canImport(Glibc)
import Glibc
#endif

/// One libFuzzer binary for every parser: `UPLOADVERIFY_FUZZ_TARGET` names
/// which (content-range, digest-field, upload-id, chunkmap). One binary,
/// because SwiftPM instruments UploadKit for coverage in one product's build
/// but not in the next one's, in the same build folder.
let target: FuzzTarget = {
    guard let name = getenv("UPLOADVERIFY_FUZZ_TARGET").map({ String(cString: $0) }), let target = FuzzTarget(rawValue: name) else {
        fatalError("set UPLOADVERIFY_FUZZ_TARGET to one of: " + FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    target.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
