import Foundation

/// Whether this test process runs under ThreadSanitizer or AddressSanitizer
/// (`make test-sanitizers`). Their shadow memory multiplies a process's
/// resident size, so memory bounds, measured in the normal run, are not
/// asserted under them.
let underSanitizer: Bool = {
    let process = dlopen(nil, RTLD_NOW)
    let runtimes: [String] = ["__tsan_init", "__asan_init"]
    return runtimes.contains { name in dlsym(process, name) != nil }
}()
