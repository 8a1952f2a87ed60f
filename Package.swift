// swift-tools-version:6.0
import PackageDescription

// Data flows one way: FrameSource → FaceCrop → Recognizer → Pipeline (smoothing, writers) → CLI.
// FERCore holds the value types that travel between the stages.
let package = Package(
    name: "fer-stream",
    // Synchronization's Mutex; the package is built and tested on Debian, where it always is.
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fer-stream", targets: ["fer-stream"]),
        .library(name: "FERStream", targets: ["FERStream"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation --target FERStream` (the library's DocC catalog).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavdevice-dev", "libswscale-dev", "libavutil-dev"])]
        ),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CMosquitto", providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        .target(name: "FERCore"),
        .target(name: "Datasets", dependencies: ["FERCore", "CZlib"]),
        // FFmpeg error strings, frame planes and swscale ranges, shared by decoding and encoding.
        .target(name: "FFmpegSupport", dependencies: ["CFFmpeg"]),
        .target(name: "FrameSource", dependencies: ["CFFmpeg", "FFmpegSupport", "FERCore"]),
        .target(name: "FaceCrop", dependencies: ["FERCore"]),
        .target(name: "Recognizer", dependencies: ["FERCore"]),
        .target(name: "RecognizerDNNL", dependencies: ["Recognizer", "CDNNL"]),
        .target(name: "FaceDetectorDNNL", dependencies: ["FaceCrop", "FERCore", "Recognizer", "RecognizerDNNL", "CDNNL"]),
        .target(name: "Pipeline", dependencies: ["FERCore", "FrameSource", "FaceCrop", "Recognizer"]),
        // Sinks that send each frame's line and the label events to MQTT or Redis.
        .target(name: "Publishing", dependencies: ["FERCore", "Pipeline", "CMosquitto", "CHiredis"]),
        .target(name: "Annotation", dependencies: ["CFFmpeg", "FFmpegSupport", "FERCore", "Pipeline"]),
        // The library: the whole pipeline in-process, one module to import (see Examples/LabelVideo).
        .target(name: "FERStream", dependencies: ["FERCore", "FrameSource", "FaceCrop", "Recognizer", "RecognizerDNNL", "FaceDetectorDNNL", "Pipeline", "Publishing"]),
        .target(name: "Evaluation", dependencies: ["FERCore", "Datasets", "Recognizer"]),
        .target(name: "Plots", dependencies: ["FERCore"]),
        .executableTarget(
            name: "fer-stream",
            dependencies: ["FERStream", "Annotation", "Evaluation", "Datasets", "Plots", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The readers and writers as fuzz targets (scripts/fuzz.sh); built plainly it replays inputs.
        .executableTarget(name: "fer-stream-fuzz", dependencies: ["Datasets", "FaceCrop", "FERCore", "Pipeline", "Recognizer"]),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "FERCoreTests", dependencies: ["FERCore"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "TestSupport"]),
        .testTarget(name: "FrameSourceTests", dependencies: ["FrameSource", "TestSupport"]),
        .testTarget(name: "FaceCropTests", dependencies: ["FaceCrop", "FaceDetectorDNNL", "FrameSource", "TestSupport"]),
        .testTarget(name: "RecognizerTests", dependencies: ["Recognizer", "TestSupport"]),
        .testTarget(name: "RecognizerDNNLTests", dependencies: ["RecognizerDNNL", "Recognizer"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "FERCore", "FrameSource", "FaceCrop", "Recognizer", "TestSupport"]),
        .testTarget(name: "PublishingTests", dependencies: ["Publishing", "Pipeline", "FERCore", "CMosquitto", "CHiredis", "TestSupport"]),
        .testTarget(name: "AnnotationTests", dependencies: ["Annotation", "FrameSource", "Pipeline", "TestSupport"]),
        .testTarget(name: "PlotsTests", dependencies: ["Plots"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Datasets", "Recognizer", "RecognizerDNNL"]),
        .testTarget(name: "CLITests", dependencies: ["fer-stream", "TestSupport"]),
        .testTarget(name: "FERStreamTests", dependencies: ["FERStream", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
