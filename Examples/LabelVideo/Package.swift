// swift-tools-version:6.0
import PackageDescription

// An app of its own that uses fer-stream as a library: it depends on this checkout by path, as
// another project would depend on a release by URL.
let package = Package(
    name: "LabelVideo",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "fer-stream", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "label-video", dependencies: [.product(name: "FERStream", package: "fer-stream")]),
    ]
)
