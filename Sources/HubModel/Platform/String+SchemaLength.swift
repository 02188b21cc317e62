extension String {
    /// The length `hub/openapi.yaml`'s `minLength` and `maxLength` mean (JSON Schema): the Unicode code points of the
    /// text as sent, not Swift's `Character`s — a flag is 2, an "é" written with a combining accent is 2. Every text
    /// the hub bounds is counted this way, so it accepts exactly what the document allows (api-fuzz checks).
    package var schemaLength: Int { unicodeScalars.count }
}
