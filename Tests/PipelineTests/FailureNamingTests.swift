import FaceDetection
import Pipeline
import SafeTensors
import XCTest

/// Each failure names the part that failed: the detector's network is not "the recognizer".
final class FailureNamingTests: XCTestCase {
    func testADetectorBackendFailureIsNamedForTheDetector() {
        let e = PipelineError(detecting: RecognizerError.backend(reason: "oneDNN convolution failed: out_of_memory"))
        XCTAssertEqual(e.description, "face detector backend failed: oneDNN convolution failed: out_of_memory")
        XCTAssertFalse(e.description.contains("recognizer"))
        // The recognizer's own stays its own.
        XCTAssertEqual(PipelineError(RecognizerError.backend(reason: "x")).description, "recognizer backend failed: x")
        // The detector's weights that do not load read as before: the file and the cause.
        let bad = RecognizerError.malformed(path: "junk.safetensors", reason: "file is 5 bytes")
        XCTAssertEqual(PipelineError(detecting: bad).description, bad.description)
    }

    func testACascadeThatDoesNotLoadIsACascadeError() {
        let e = PipelineError(CascadeError.cascadeNotFound(path: "none.xml"))
        guard case .cascade = e else { return XCTFail("\(e)") }
        XCTAssertEqual(e.description, "face cascade none.xml: file not found")
        // Errors of other kinds, met while detecting, keep their own kind.
        guard case .cascade = PipelineError(detecting: CascadeError.cascadeNotFound(path: "none.xml")) else { return XCTFail() }
    }
}
