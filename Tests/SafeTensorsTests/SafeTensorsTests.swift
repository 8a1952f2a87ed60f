import Foundation
import XCTest
@testable import SafeTensors

final class SafeTensorsTests: XCTestCase {
    func testHalfFloatConversion() {
        XCTAssertEqual(floatFromHalf(0x3C00), 1)
        XCTAssertEqual(floatFromHalf(0xC000), -2)
        XCTAssertEqual(floatFromHalf(0x7BFF), 65504)
        XCTAssertEqual(floatFromHalf(0x0001), Float(sign: .plus, exponent: -24, significand: 1))
        XCTAssertEqual(floatFromHalf(0x7C00), .infinity)
        XCTAssertTrue(floatFromHalf(0x7E00).isNaN)
    }

    /// Headers that trapped the reader (integer overflow, a size of 1e300), found while fuzzing
    /// (`scripts/fuzz.sh safetensors`): each is now a one-line `malformed` error.
    func testHostileSizesInTheHeaderAreMalformedNotATrap() {
        func file(_ entry: String) -> Data {
            let header = Data("{\"a\":\(entry)}".utf8)
            var length = UInt64(header.count).littleEndian
            return Data(bytes: &length, count: 8) + header + Data(count: 16)
        }
        let hostile = [
            #"{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,16]}"#,  // product past Int.max
            #"{"dtype":"F32","shape":[4],"data_offsets":[0,9223372036854775807]}"#,      // offset + start overflows
            #"{"dtype":"F32","shape":[1e300],"data_offsets":[0,16]}"#,                    // not an Int at all
            #"{"dtype":"F32","shape":[-2,-2],"data_offsets":[0,16]}"#,                    // negative sides, positive product
            #"{"dtype":"F32","shape":[2.5],"data_offsets":[0,10]}"#,
            #"{"dtype":"F32","shape":[4],"data_offsets":[-16,0]}"#,
        ]
        for entry in hostile {
            XCTAssertThrowsError(try SafeTensorsFile(data: file(entry)), entry) { error in
                guard case .malformed = error as? RecognizerError else { return XCTFail("\(entry): \(error)") }
            }
        }
        XCTAssertNoThrow(try SafeTensorsFile(data: file(#"{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}"#)))
    }
}
