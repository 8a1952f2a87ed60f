// swift-tools-version:6.0
import PackageDescription

// Data flows one way: FrameSource → FaceCrop → Recognizer → Pipeline (smoothing, writers) → CLI.
// FERCore holds the value types that travel between the stages.
let package = Package(
    name: "fer-stream",
    products: [
        .executable(name: "fer-stream", targets: ["fer-stream"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavdevice-dev", "libswscale-dev", "libavutil-dev"])]
        ),
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .target(name: "FERCore"),
        .target(name: "FrameSource", dependencies: ["CFFmpeg", "FERCore"]),
        .target(name: "FaceCrop", dependencies: ["FERCore"]),
        .target(name: "Recognizer", dependencies: ["FERCore"]),
        .target(name: "RecognizerDNNL", dependencies: ["Recognizer", "CDNNL"]),
        .target(name: "Pipeline", dependencies: ["FERCore", "FrameSource", "FaceCrop", "Recognizer"]),
        .executableTarget(
            name: "fer-stream",
            dependencies: ["Pipeline", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "FERCoreTests", dependencies: ["FERCore"]),
        .testTarget(name: "FrameSourceTests", dependencies: ["FrameSource"]),
        .testTarget(name: "FaceCropTests", dependencies: ["FaceCrop", "FrameSource"]),
        .testTarget(name: "RecognizerTests", dependencies: ["Recognizer"]),
        .testTarget(name: "RecognizerDNNLTests", dependencies: ["RecognizerDNNL", "Recognizer"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline"]),
        .testTarget(name: "CLITests", dependencies: ["fer-stream"]),
    ],
    swiftLanguageModes: [.v5]
)
