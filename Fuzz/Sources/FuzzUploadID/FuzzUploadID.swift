import UploadKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTarget.uploadID.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
