import Foundation

#if FUZZING
// SwiftPM links an executable's entry point as `<module>_main`, so that is where libFuzzer's driver
// is started; it then calls `LLVMFuzzerTestOneInput` for every input. The target comes from the
// environment because libFuzzer keeps the command line for its own flags.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("fer_stream_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, fuzzOne)
}

private let target: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["FER_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        fatalError("set FER_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    target.run(size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : [])
    return 0
}
#else
/// `fer-stream-fuzz TARGET FILE…`: runs each file through TARGET once (seed corpora, the inputs
/// of past findings); exits 0 when none crashes.
@main
enum Replay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("usage: fer-stream-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE…\n".utf8))
            exit(2)
        }
        var count = 0
        for path in args.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("fer-stream-fuzz: cannot read '\(path)'\n".utf8))
                exit(1)
            }
            target.run([UInt8](data))
            count += 1
        }
        print("\(name): \(count) inputs, no crash")
    }
}
#endif
