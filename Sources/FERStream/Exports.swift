// One module to import: the value types that travel between the stages (FERCore), the sources
// (FrameSource), the recognizer's choices (Recognizer), the pipeline's options, results and
// errors (Pipeline), and its writers and records (Output). The C modules (FFmpeg, oneDNN) stay behind them.
@_exported import FERCore
@_exported import FaceCrop
@_exported import FaceDetection
@_exported import FaceTracking
@_exported import FrameSource
@_exported import Output
@_exported import Pipeline
@_exported import Publishing
@_exported import Recognizer
@_exported import SafeTensors

import RecognizerDNNL

/// The precision oneDNN runs the network at.
public typealias Precision = DNNLEngine.Precision

/// The errors of this library: one line a person can act on each (`description`).
public typealias FERStreamError = PipelineError
