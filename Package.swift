// swift-tools-version:6.0
import PackageDescription

// Data flows one way: FrameSource → FaceDetection → FaceTracking → FaceCrop → Recognizer → Pipeline
// (smoothing, writers) → CLI. FERCore holds the value types that travel between the stages (and
// FrameProducer, so frames need not come from FFmpeg); SafeTensors reads both networks' weights.
let package = Package(
    name: "fer-stream",
    // Synchronization's Mutex; the package is built and tested on Debian, where it always is.
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fer-stream", targets: ["fer-stream"]),
        .library(name: "FERStream", targets: ["FERStream"]),
        .library(name: "LiveView", targets: ["LiveView"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation --target FERStream` (the library's DocC catalog).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
        // --serve: the live view's HTTP and WebSocket server (Sources/LiveView).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
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
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .target(name: "FERCore"),
        .target(name: "Datasets", dependencies: ["FERCore", "CZlib"]),
        // FFmpeg error strings, frame planes and swscale ranges, shared by decoding and encoding.
        .target(name: "FFmpegSupport", dependencies: ["CFFmpeg"]),
        .target(name: "FrameSource", dependencies: ["CFFmpeg", "FFmpegSupport", "FERCore"]),
        .target(name: "FaceCrop", dependencies: ["FERCore"]),
        .target(name: "FaceDetection", dependencies: ["FERCore", "FaceCrop"]),
        .target(name: "FaceTracking", dependencies: ["FERCore", "FaceDetection"]),
        // The model files' reader (and the error of loading or running a network), shared by both networks.
        .target(name: "SafeTensors"),
        .target(name: "Recognizer", dependencies: ["FERCore", "SafeTensors"]),
        .target(name: "RecognizerDNNL", dependencies: ["Recognizer", "SafeTensors", "CDNNL"]),
        .target(name: "FaceDetectorDNNL", dependencies: ["FaceDetection", "FERCore", "SafeTensors", "RecognizerDNNL", "CDNNL"]),
        .target(name: "Pipeline", dependencies: ["FERCore", "FrameSource", "FaceDetection", "FaceTracking", "FaceCrop", "Recognizer", "SafeTensors"]),
        // Sinks that send each frame's line and the label events to MQTT or Redis.
        .target(name: "Output", dependencies: ["FERCore", "Pipeline", "FaceCrop", "FaceDetection", "Recognizer"]),
        .target(name: "Publishing", dependencies: ["FERCore", "Pipeline", "Output", "CMosquitto", "CHiredis"]),
        .target(name: "Annotation", dependencies: ["CFFmpeg", "FFmpegSupport", "FERCore", "Pipeline"]),
        // --serve: a browser view of every input, MJPEG, /metrics; a set of sinks any stream can add.
        .target(name: "LiveView", dependencies: ["FERCore", "Pipeline", "Output", "FERStream", "CTurboJPEG",
                                                 .product(name: "NIOCore", package: "swift-nio"),
                                                 .product(name: "Logging", package: "swift-log"),
                                                 .product(name: "Hummingbird", package: "hummingbird"),
                                                 .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket")]),
        // The library: the whole pipeline in-process, one module to import (see Examples/LabelVideo).
        .target(name: "FERStream", dependencies: ["FERCore", "FrameSource", "FaceDetection", "FaceTracking", "FaceCrop", "Recognizer", "RecognizerDNNL", "FaceDetectorDNNL", "Pipeline", "Output", "Publishing", "SafeTensors"]),
        .target(name: "Evaluation", dependencies: ["FERCore", "Datasets", "Recognizer", "SafeTensors"]),
        .target(name: "Plots", dependencies: ["FERCore"]),
        .executableTarget(
            name: "fer-stream",
            dependencies: ["FERStream", "Annotation", "LiveView", "Evaluation", "Datasets", "Plots", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The readers and writers as fuzz targets (scripts/fuzz.sh); built plainly it replays inputs.
        .executableTarget(name: "fer-stream-fuzz", dependencies: ["Datasets", "FaceDetection", "FERCore", "Pipeline", "Output", "Recognizer", "SafeTensors"]),
        .target(name: "TestSupport", dependencies: ["FERCore"], path: "Tests/TestSupport"),
        .testTarget(name: "FERCoreTests", dependencies: ["FERCore"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "TestSupport"]),
        .testTarget(name: "FrameSourceTests", dependencies: ["FrameSource", "TestSupport"]),
        .testTarget(name: "FaceDetectionTests", dependencies: ["FaceDetection", "FaceDetectorDNNL", "TestSupport"]),
        .testTarget(name: "FaceTrackingTests", dependencies: ["FaceTracking", "FaceDetection", "TestSupport"]),
        .testTarget(name: "FaceCropTests", dependencies: ["FaceCrop"]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors"]),
        .testTarget(name: "RecognizerTests", dependencies: ["Recognizer", "SafeTensors", "TestSupport"]),
        .testTarget(name: "RecognizerDNNLTests", dependencies: ["RecognizerDNNL", "Recognizer", "SafeTensors"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "FERCore", "FrameSource", "FaceDetection", "FaceTracking", "FaceCrop", "Recognizer", "SafeTensors", "Output", "TestSupport"]),
        .testTarget(name: "OutputTests", dependencies: ["Output", "Pipeline", "FERCore", "Recognizer", "SafeTensors", "TestSupport"]),
        .testTarget(name: "PublishingTests", dependencies: ["Publishing", "Pipeline", "Output", "FERCore", "CMosquitto", "CHiredis", "TestSupport"]),
        .testTarget(name: "AnnotationTests", dependencies: ["Annotation", "FrameSource", "Pipeline", "TestSupport"]),
        .testTarget(name: "PlotsTests", dependencies: ["Plots"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Datasets", "Recognizer", "RecognizerDNNL"]),
        .testTarget(name: "CLITests", dependencies: ["fer-stream", "TestSupport"]),
        .testTarget(name: "LiveViewTests", dependencies: ["LiveView", "Pipeline", "FERCore", "FERStream", .product(name: "Hummingbird", package: "hummingbird")]),
        .testTarget(name: "FERStreamTests", dependencies: ["FERStream", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
