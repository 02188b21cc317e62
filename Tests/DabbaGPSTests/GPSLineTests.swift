import Testing

@testable import DabbaGPS

/// The line check that decides what counts as malformed (libgps itself never says).
@Suite struct GPSLineTests {
    func classify(_ text: String) -> GPSLine {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { GPSLine.classify(UnsafeBufferPointer($0)) }
    }

    @Test func gpsdLines() {
        let tpv =
            #"{"class":"TPV","device":"/dev/pts/3","mode":3,"time":"2026-11-25T21:53:57.000Z","ept":0.005,"#
            + #""lat":22.314947167,"lon":87.303865333,"altHAE":-29.9655,"altMSL":29.7300,"alt":29.7300,"#
            + #""track":0.4400,"magtrack":0.3317,"magvar":-0.1,"speed":12.000,"climb":0.020,"geoidSep":-59.696,"#
            + #""eph":17.100}"#
        #expect(classify(tpv) == .object(className: "TPV"))
        #expect(classify(tpv + "\r") == .object(className: "TPV"))
        #expect(
            classify(#"{"class":"VERSION","release":"3.22","rev":"3.22","proto_major":3,"proto_minor":14}"#)
                == .object(className: "VERSION"))
        #expect(
            classify(#"{"class":"SKY","satellites":[{"PRN":1,"el":45,"used":true},{"PRN":2,"used":false}],"x":null}"#)
                == .object(className: "SKY"))
        #expect(
            classify(#"{ "class" : "WATCH" , "enable" : true , "e":[ ] , "o":{ } , "n":-1.5e+3 }"#)
                == .object(className: "WATCH"))
        #expect(classify(#"{"class":"ERROR","message":"a \"quoted\" \\ \u00e9 word"}"#) == .object(className: "ERROR"))
        #expect(classify("") == .blank)
        #expect(classify(" \r") == .blank)
    }

    @Test func garbageAndTruncation() {
        #expect(classify("HTTP/1.1 400 Bad Request") == .malformed("not JSON"))
        #expect(classify("$GPRMC,1,2,3*00") == .malformed("not JSON"))
        for bad in [
            #"{"class":"TPV","mode":3,"time":"2026-11-25T10:00:00.000Z","lat":22.5,"lon":87."#,
            #"{"class":"TPV","mode":3"#, #"{"class":"TPV""#, "{", #"{"class":"TPV"}}"#, #"{"class":"TPV",}"#,
            #"{"class":"TPV","lat":01}"#, #"{"class":"TPV","lat":1.}"#, #"{"class":"TPV","lat":-}"#,
            #"{"class":"TPV","lat":tru}"#, #"{"class":"TPV","x":"a\qb"}"#, "{\"class\":\"TPV\",\"x\":\"a\tb\"}",
            #"{"class":"TPV"} trailing"#, #"{class:"TPV"}"#, #"{"class":"TPV","x":[1,2}"#,
        ] {
            #expect(classify(bad) == .malformed("truncated or invalid JSON"), "\(bad)")
        }
    }

    @Test func deepNestingIsBoundedNotACrash() {
        let deep =
            #"{"class":"TPV","x":"# + String(repeating: "[", count: 20_000) + String(repeating: "]", count: 20_000)
            + "}"
        #expect(classify(deep) == .malformed("truncated or invalid JSON"))
        let fine = #"{"class":"SKY","x":"# + String(repeating: "[", count: 20) + String(repeating: "]", count: 20) + "}"
        #expect(classify(fine) == .object(className: "SKY"))
    }

    @Test func wrongTypesInTPV() {
        #expect(
            classify(#"{"class":"TPV","mode":"3","lat":1,"lon":2}"#)
                == .malformed("TPV field with the wrong type: mode"))
        #expect(
            classify(#"{"class":"TPV","mode":3,"lat":"22.5","lon":2}"#)
                == .malformed("TPV field with the wrong type: lat"))
        #expect(
            classify(#"{"class":"TPV","mode":3,"time":1764064800,"lat":1,"lon":2}"#)
                == .malformed("TPV field with the wrong type: time"))
        #expect(
            classify(#"{"class":"TPV","mode":3,"lat":1,"lon":2,"altMSL":null}"#)
                == .malformed("TPV field with the wrong type: altMSL"))
        #expect(classify(#"{"class":"TPV","mode":3,"lat":1,"lon":2,"unknownField":"x"}"#) == .object(className: "TPV"))
        #expect(classify(#"{"class":"SKY","lat":"not checked outside TPV"}"#) == .object(className: "SKY"))
        #expect(classify(#"{"class":42}"#) == .malformed("JSON object without a class"))
        #expect(classify(#"{"mode":3}"#) == .malformed("JSON object without a class"))
    }
}
