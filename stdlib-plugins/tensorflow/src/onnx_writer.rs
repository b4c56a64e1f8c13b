//! A small ONNX writer for the models `train` fits: every trained model is an ONNX graph
//! (opset 13), run by the same tract engine as a loaded file and saved as a `.onnx` file that
//! other runtimes read too. Only the protobuf messages and fields such graphs need are written
//! (the wire format is simple enough that a protobuf library would be the larger part).

/// ONNX element types (onnx.proto `TensorProto.DataType`).
pub const FLOAT: u64 = 1;
pub const INT64: u64 = 7;

fn varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn key(out: &mut Vec<u8>, field: u64, wire: u64) {
    varint(out, field << 3 | wire);
}

fn field_varint(out: &mut Vec<u8>, field: u64, value: u64) {
    key(out, field, 0);
    varint(out, value);
}

fn field_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    key(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A graph under construction: nodes, constant tensors, one input and one output.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<Vec<u8>>,
    initializers: Vec<Vec<u8>>,
    counter: usize,
}

/// An attribute of a node.
pub enum Attr {
    Int(&'static str, i64),
}

impl Graph {
    /// A fresh value name.
    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_{}", self.counter)
    }

    /// A float constant of `dims` (row-major `data`); returns its name.
    pub fn float_constant(&mut self, dims: &[usize], data: &[f32]) -> String {
        let name = self.fresh("w");
        let mut tensor = Vec::new();
        for dim in dims {
            field_varint(&mut tensor, 1, *dim as u64);
        }
        field_varint(&mut tensor, 2, FLOAT);
        field_bytes(&mut tensor, 8, name.as_bytes());
        let raw: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        field_bytes(&mut tensor, 9, &raw);
        self.initializers.push(tensor);
        name
    }

    /// An int64 constant (shapes); returns its name.
    pub fn int_constant(&mut self, data: &[i64]) -> String {
        let name = self.fresh("c");
        let mut tensor = Vec::new();
        field_varint(&mut tensor, 1, data.len() as u64);
        field_varint(&mut tensor, 2, INT64);
        field_bytes(&mut tensor, 8, name.as_bytes());
        let raw: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        field_bytes(&mut tensor, 9, &raw);
        self.initializers.push(tensor);
        name
    }

    /// A node `op(inputs)` with a fresh output name (or `output`); returns the output's name.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: &[Attr], output: Option<&str>) -> String {
        let output = output.map_or_else(|| self.fresh(&op.to_ascii_lowercase()), str::to_string);
        let mut node = Vec::new();
        for input in inputs {
            field_bytes(&mut node, 1, input.as_bytes());
        }
        field_bytes(&mut node, 2, output.as_bytes());
        field_bytes(&mut node, 3, output.as_bytes());
        field_bytes(&mut node, 4, op.as_bytes());
        for attr in attrs {
            let Attr::Int(name, value) = attr;
            let mut attribute = Vec::new();
            field_bytes(&mut attribute, 1, name.as_bytes());
            field_varint(&mut attribute, 3, *value as u64);
            field_varint(&mut attribute, 20, 2); // AttributeType INT
            field_bytes(&mut node, 5, &attribute);
        }
        self.nodes.push(node);
        output
    }

    /// The model file: `input` float [batch, features] → `output` of `elem_type` and
    /// `output_dims` (after the batch dimension).
    pub fn finish(self, input: &str, features: usize, output: &str, elem_type: u64, output_dims: &[usize]) -> Vec<u8> {
        fn value_info(name: &str, elem_type: u64, dims: &[usize]) -> Vec<u8> {
            let mut shape = Vec::new();
            let mut batch = Vec::new();
            field_bytes(&mut batch, 2, b"batch");
            field_bytes(&mut shape, 1, &batch);
            for dim in dims {
                let mut fixed = Vec::new();
                field_varint(&mut fixed, 1, *dim as u64);
                field_bytes(&mut shape, 1, &fixed);
            }
            let mut tensor_type = Vec::new();
            field_varint(&mut tensor_type, 1, elem_type);
            field_bytes(&mut tensor_type, 2, &shape);
            let mut type_proto = Vec::new();
            field_bytes(&mut type_proto, 1, &tensor_type);
            let mut info = Vec::new();
            field_bytes(&mut info, 1, name.as_bytes());
            field_bytes(&mut info, 2, &type_proto);
            info
        }
        let mut graph = Vec::new();
        for node in &self.nodes {
            field_bytes(&mut graph, 1, node);
        }
        field_bytes(&mut graph, 2, b"tusk_trained");
        for tensor in &self.initializers {
            field_bytes(&mut graph, 5, tensor);
        }
        field_bytes(&mut graph, 11, &value_info(input, FLOAT, &[features]));
        field_bytes(&mut graph, 12, &value_info(output, elem_type, output_dims));
        let mut model = Vec::new();
        field_varint(&mut model, 1, 8); // ir_version
        field_bytes(&mut model, 2, b"tusk-plugin-tensorflow");
        field_bytes(&mut model, 7, &graph);
        let mut opset = Vec::new();
        field_bytes(&mut opset, 1, b"");
        field_varint(&mut opset, 2, 13);
        field_bytes(&mut model, 8, &opset);
        model
    }
}
