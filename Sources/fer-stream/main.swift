print("fer-stream: not yet")
