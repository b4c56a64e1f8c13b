//! `train`: fitting small models on the arrays a script has, on the CPU, in plain Rust — what
//! can honestly be done in a configuration language. Each fitted model becomes an ONNX graph
//! (see `onnx_writer`), so `predict` runs it through tract like any loaded file, and `save`
//! writes a `.onnx` file that `load_model` (or another runtime) reads back.
//!
//! - `linear_regression`: least squares by the normal equations (optional L2), exact.
//! - `logistic_regression`: multinomial (softmax) regression by full-batch gradient descent on
//!   standardised features, folded back into the weights of the exported graph.
//! - `kmeans`: Lloyd's algorithm with k-means++ seeding from a fixed seed.
//! - `mlp`: a multilayer perceptron (ReLU hidden layers; softmax for classes, linear for
//!   regression) trained with Adam on the full batch, from a fixed seed.

// Matrix arithmetic indexes several arrays with the same counters; iterators would hide that.
#![allow(clippy::needless_range_loop)]

use crate::onnx_writer::{Attr, FLOAT, Graph, INT64};

/// The kinds `train` knows, for messages.
pub const KINDS: &[&str] = &["linear_regression", "logistic_regression", "kmeans", "mlp"];

/// A row-major matrix.
#[derive(Clone, Debug)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    pub fn zeros(rows: usize, cols: usize) -> Matrix {
        Matrix { rows, cols, data: vec![0.0; rows * cols] }
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    fn at(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.cols + j]
    }

    fn to_f32(&self) -> Vec<f32> {
        self.data.iter().map(|x| *x as f32).collect()
    }
}

/// Settings of one training run (script options, with defaults per kind).
#[derive(Clone, Debug)]
pub struct Options {
    pub epochs: usize,
    pub learning_rate: f64,
    pub l2: f64,
    pub k: usize,
    pub hidden: Vec<usize>,
    pub seed: u64,
    pub regression: bool,
    /// The targets were a flat list (one number per row): predictions are flat too.
    pub vector_targets: bool,
}

/// What training produced: the ONNX graph and a summary for `info`.
pub struct Trained {
    pub onnx: Vec<u8>,
    pub summary: Vec<(&'static str, Summary)>,
}

/// One summary entry.
pub enum Summary {
    Float(f64),
    Int(i64),
    Text(String),
    Rows(Vec<Vec<f64>>),
}

/// splitmix64: a small, fixed-seed generator (the results must not change between runs).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = self.uniform().max(f64::MIN_POSITIVE);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Class labels 0..k-1 from the targets (a column of non-negative integers).
pub fn class_labels(y: &Matrix) -> Result<(Vec<usize>, usize), String> {
    if y.cols != 1 {
        return Err(format!("the targets must be one class label per row, got rows of {}", y.cols));
    }
    let mut labels = Vec::with_capacity(y.rows);
    for (i, value) in y.data.iter().enumerate() {
        if *value < 0.0 || value.fract() != 0.0 || *value > 1e6 {
            return Err(format!("targets[{i}] must be a class label (0, 1, 2, …), got {value}"));
        }
        labels.push(*value as usize);
    }
    let classes = labels.iter().max().map_or(0, |max| max + 1).max(2);
    Ok((labels, classes))
}

/// Column means and standard deviations (1 for a constant column).
fn standardisation(x: &Matrix) -> (Vec<f64>, Vec<f64>) {
    let n = x.rows as f64;
    let mut mean = vec![0.0; x.cols];
    let mut std = vec![0.0; x.cols];
    for i in 0..x.rows {
        for (j, m) in mean.iter_mut().enumerate() {
            *m += x.at(i, j) / n;
        }
    }
    for i in 0..x.rows {
        for (j, s) in std.iter_mut().enumerate() {
            *s += (x.at(i, j) - mean[j]).powi(2) / n;
        }
    }
    for s in &mut std {
        *s = if *s > 1e-24 { s.sqrt() } else { 1.0 };
    }
    (mean, std)
}

fn standardise(x: &Matrix, mean: &[f64], std: &[f64]) -> Matrix {
    let mut out = x.clone();
    for i in 0..x.rows {
        for j in 0..x.cols {
            out.data[i * x.cols + j] = (x.at(i, j) - mean[j]) / std[j];
        }
    }
    out
}

/// Weights `w` [d, k] and bias `b` [k] learnt on standardised features, rewritten for raw
/// features: x' = (x - mean) / std, so w_raw = w / std and b_raw = b - Σ mean·w / std.
fn fold(w: &Matrix, b: &[f64], mean: &[f64], std: &[f64]) -> (Matrix, Vec<f64>) {
    let mut raw = w.clone();
    let mut bias = b.to_vec();
    for j in 0..w.rows {
        for c in 0..w.cols {
            let scaled = w.at(j, c) / std[j];
            raw.data[j * w.cols + c] = scaled;
            bias[c] -= mean[j] * scaled;
        }
    }
    (raw, bias)
}

/// A dense layer x @ W + b in the graph.
fn dense(graph: &mut Graph, x: &str, w: &Matrix, b: &[f64]) -> String {
    let w_name = graph.float_constant(&[w.rows, w.cols], &w.to_f32());
    let b_name = graph.float_constant(&[b.len()], &b.iter().map(|x| *x as f32).collect::<Vec<_>>());
    let product = graph.node("MatMul", &[x, &w_name], &[], None);
    graph.node("Add", &[&product, &b_name], &[], None)
}

/// Solves A x = b (A square, row-major) by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>, n: usize, columns: usize) -> Result<Vec<f64>, String> {
    for col in 0..n {
        let pivot = (col..n).max_by(|&p, &q| a[p * n + col].abs().total_cmp(&a[q * n + col].abs())).unwrap_or(col);
        if a[pivot * n + col].abs() < 1e-12 {
            return Err("the features are linearly dependent (a column repeats another, or there are fewer rows than features); add options {l2: 0.01}".into());
        }
        if pivot != col {
            for j in 0..n {
                a.swap(col * n + j, pivot * n + j);
            }
            for j in 0..columns {
                b.swap(col * columns + j, pivot * columns + j);
            }
        }
        for row in col + 1..n {
            let factor = a[row * n + col] / a[col * n + col];
            if factor == 0.0 {
                continue;
            }
            for j in col..n {
                a[row * n + j] -= factor * a[col * n + j];
            }
            for j in 0..columns {
                b[row * columns + j] -= factor * b[col * columns + j];
            }
        }
    }
    let mut x = vec![0.0; n * columns];
    for row in (0..n).rev() {
        for c in 0..columns {
            let mut sum = b[row * columns + c];
            for j in row + 1..n {
                sum -= a[row * n + j] * x[j * columns + c];
            }
            x[row * columns + c] = sum / a[row * n + row];
        }
    }
    Ok(x)
}

/// Least squares: [x 1] β = y, β = (XᵀX + λI)⁻¹ Xᵀy (the bias is not regularised).
pub fn linear_regression(x: &Matrix, y: &Matrix, options: &Options) -> Result<Trained, String> {
    let d = x.cols + 1;
    let k = y.cols;
    let mut xtx = vec![0.0; d * d];
    let mut xty = vec![0.0; d * k];
    for i in 0..x.rows {
        let mut row = x.row(i).to_vec();
        row.push(1.0);
        for p in 0..d {
            for q in 0..d {
                xtx[p * d + q] += row[p] * row[q];
            }
            for c in 0..k {
                xty[p * k + c] += row[p] * y.at(i, c);
            }
        }
    }
    for p in 0..x.cols {
        xtx[p * d + p] += options.l2;
    }
    let beta = solve(xtx, xty, d, k)?;
    let w = Matrix { rows: x.cols, cols: k, data: beta[..x.cols * k].to_vec() };
    let b = beta[x.cols * k..].to_vec();
    let mut residual = 0.0;
    let mut total = 0.0;
    let mean: Vec<f64> = (0..k).map(|c| (0..y.rows).map(|i| y.at(i, c)).sum::<f64>() / y.rows as f64).collect();
    for i in 0..x.rows {
        for c in 0..k {
            let predicted: f64 = (0..x.cols).map(|j| x.at(i, j) * w.at(j, c)).sum::<f64>() + b[c];
            residual += (y.at(i, c) - predicted).powi(2);
            total += (y.at(i, c) - mean[c]).powi(2);
        }
    }
    let mut graph = Graph::default();
    let out = dense(&mut graph, "x", &w, &b);
    let onnx = if y.cols == 1 && options.vector_targets {
        // One target: one number per row, not a row of one.
        let shape = graph.int_constant(&[-1]);
        graph.node("Reshape", &[&out, &shape], &[], Some("y"));
        graph.finish("x", x.cols, "y", FLOAT, &[])
    } else {
        graph.node("Identity", &[&out], &[], Some("y"));
        graph.finish("x", x.cols, "y", FLOAT, &[k])
    };
    let mut coefficients = Vec::new();
    for c in 0..k {
        coefficients.push((0..x.cols).map(|j| w.at(j, c)).collect());
    }
    Ok(Trained {
        onnx,
        summary: vec![
            ("kind", Summary::Text("linear_regression".into())),
            ("coefficients", Summary::Rows(coefficients)),
            ("intercept", Summary::Rows(vec![b])),
            ("mse", Summary::Float(residual / (x.rows * k) as f64)),
            ("r2", Summary::Float(if total > 0.0 { 1.0 - residual / total } else { 1.0 })),
        ],
    })
}

fn softmax_in_place(row: &mut [f64]) {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for value in row.iter_mut() {
        *value = (*value - max).exp();
        sum += *value;
    }
    for value in row.iter_mut() {
        *value /= sum;
    }
}

/// Multinomial logistic regression by gradient descent (cross-entropy + L2).
pub fn logistic_regression(x: &Matrix, y: &Matrix, options: &Options) -> Result<Trained, String> {
    let (labels, classes) = class_labels(y)?;
    let (mean, std) = standardisation(x);
    let xs = standardise(x, &mean, &std);
    let n = x.rows as f64;
    let mut w = Matrix::zeros(x.cols, classes);
    let mut b = vec![0.0; classes];
    let mut loss = 0.0;
    let mut probabilities = vec![0.0; classes];
    for _ in 0..options.epochs {
        let mut grad_w = Matrix::zeros(x.cols, classes);
        let mut grad_b = vec![0.0; classes];
        loss = 0.0;
        for i in 0..xs.rows {
            let row = xs.row(i);
            for (c, p) in probabilities.iter_mut().enumerate() {
                *p = b[c] + (0..xs.cols).map(|j| row[j] * w.at(j, c)).sum::<f64>();
            }
            softmax_in_place(&mut probabilities);
            loss -= probabilities[labels[i]].max(1e-300).ln() / n;
            for c in 0..classes {
                let error = probabilities[c] - f64::from(u8::from(c == labels[i]));
                grad_b[c] += error / n;
                for j in 0..xs.cols {
                    grad_w.data[j * classes + c] += error * row[j] / n;
                }
            }
        }
        for (index, weight) in w.data.iter_mut().enumerate() {
            *weight -= options.learning_rate * (grad_w.data[index] + options.l2 * *weight);
        }
        for (c, bias) in b.iter_mut().enumerate() {
            *bias -= options.learning_rate * grad_b[c];
        }
    }
    let accuracy = accuracy(
        &xs,
        &labels,
        |row, out| {
            for (c, value) in out.iter_mut().enumerate() {
                *value = b[c] + (0..xs.cols).map(|j| row[j] * w.at(j, c)).sum::<f64>();
            }
        },
        classes,
    );
    let (w_raw, b_raw) = fold(&w, &b, &mean, &std);
    let mut graph = Graph::default();
    let logits = dense(&mut graph, "x", &w_raw, &b_raw);
    graph.node("Softmax", &[&logits], &[Attr::Int("axis", -1)], Some("probs"));
    Ok(Trained {
        onnx: graph.finish("x", x.cols, "probs", FLOAT, &[classes]),
        summary: vec![
            ("kind", Summary::Text("logistic_regression".into())),
            ("classes", Summary::Int(classes as i64)),
            ("epochs", Summary::Int(options.epochs as i64)),
            ("loss", Summary::Float(loss)),
            ("accuracy", Summary::Float(accuracy)),
        ],
    })
}

fn accuracy(x: &Matrix, labels: &[usize], score: impl Fn(&[f64], &mut [f64]), classes: usize) -> f64 {
    let mut out = vec![0.0; classes];
    let right = (0..x.rows)
        .filter(|&i| {
            score(x.row(i), &mut out);
            let best = (0..classes).max_by(|&p, &q| out[p].total_cmp(&out[q])).unwrap_or(0);
            best == labels[i]
        })
        .count();
    right as f64 / x.rows as f64
}

/// k-means (Lloyd) with k-means++ seeding; the graph returns each row's nearest centroid.
pub fn kmeans(x: &Matrix, options: &Options) -> Result<Trained, String> {
    let k = options.k;
    if k == 0 || k > x.rows {
        return Err(format!("kmeans needs options {{k: N}} with 1 <= N <= the number of rows ({})", x.rows));
    }
    let mut rng = Rng(options.seed);
    let distance = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| (p - q).powi(2)).sum::<f64>();
    let mut centroids: Vec<Vec<f64>> = vec![x.row((rng.next() % x.rows as u64) as usize).to_vec()];
    while centroids.len() < k {
        let weights: Vec<f64> = (0..x.rows)
            .map(|i| centroids.iter().map(|c| distance(x.row(i), c)).fold(f64::INFINITY, f64::min))
            .collect();
        let total: f64 = weights.iter().sum();
        let next = if total <= 0.0 {
            centroids.len() % x.rows
        } else {
            let mut target = rng.uniform() * total;
            weights
                .iter()
                .position(|w| {
                    target -= w;
                    target <= 0.0
                })
                .unwrap_or(x.rows - 1)
        };
        centroids.push(x.row(next).to_vec());
    }
    let mut assignment = vec![usize::MAX; x.rows];
    let mut iterations = 0;
    for _ in 0..options.epochs.max(1) {
        iterations += 1;
        let mut changed = false;
        for (i, slot) in assignment.iter_mut().enumerate() {
            let nearest = (0..k)
                .min_by(|&p, &q| distance(x.row(i), &centroids[p]).total_cmp(&distance(x.row(i), &centroids[q])))
                .unwrap_or(0);
            changed |= *slot != nearest;
            *slot = nearest;
        }
        if !changed {
            break;
        }
        for (c, centroid) in centroids.iter_mut().enumerate() {
            let members: Vec<usize> = (0..x.rows).filter(|&i| assignment[i] == c).collect();
            if members.is_empty() {
                continue; // an empty cluster keeps its centroid
            }
            for (j, value) in centroid.iter_mut().enumerate() {
                *value = members.iter().map(|&i| x.at(i, j)).sum::<f64>() / members.len() as f64;
            }
        }
    }
    let inertia: f64 = (0..x.rows).map(|i| distance(x.row(i), &centroids[assignment[i]])).sum();
    // argmin_c |x - c|² = argmin_c (|c|² - 2 x·c): one MatMul, one Add, one ArgMin.
    let mut graph = Graph::default();
    let minus_two_ct = Matrix {
        rows: x.cols,
        cols: k,
        data: (0..x.cols).flat_map(|j| centroids.iter().map(move |c| -2.0 * c[j])).collect(),
    };
    let norms: Vec<f64> = centroids.iter().map(|c| c.iter().map(|v| v * v).sum()).collect();
    let scores = dense(&mut graph, "x", &minus_two_ct, &norms);
    graph.node("ArgMin", &[&scores], &[Attr::Int("axis", 1), Attr::Int("keepdims", 0)], Some("cluster"));
    Ok(Trained {
        onnx: graph.finish("x", x.cols, "cluster", INT64, &[]),
        summary: vec![
            ("kind", Summary::Text("kmeans".into())),
            ("k", Summary::Int(k as i64)),
            ("iterations", Summary::Int(iterations)),
            ("inertia", Summary::Float(inertia)),
            ("centroids", Summary::Rows(centroids)),
        ],
    })
}

/// A multilayer perceptron trained with Adam on the full batch.
pub fn mlp(x: &Matrix, y: &Matrix, options: &Options) -> Result<Trained, String> {
    let (labels, outputs) = if options.regression { (Vec::new(), y.cols) } else { class_labels(y)? };
    let (mean, std) = standardisation(x);
    let xs = standardise(x, &mean, &std);
    let mut sizes = vec![x.cols];
    sizes.extend(options.hidden.iter().copied());
    sizes.push(outputs);
    let mut rng = Rng(options.seed);
    // He initialisation for the ReLU layers.
    let mut weights: Vec<Matrix> = sizes
        .windows(2)
        .map(|pair| {
            let scale = (2.0 / pair[0] as f64).sqrt();
            Matrix {
                rows: pair[0],
                cols: pair[1],
                data: (0..pair[0] * pair[1]).map(|_| rng.normal() * scale).collect(),
            }
        })
        .collect();
    let mut biases: Vec<Vec<f64>> = sizes[1..].iter().map(|size| vec![0.0; *size]).collect();
    let layers = weights.len();
    let mut m_w: Vec<Vec<f64>> = weights.iter().map(|w| vec![0.0; w.data.len()]).collect();
    let mut v_w = m_w.clone();
    let mut m_b: Vec<Vec<f64>> = biases.iter().map(|b| vec![0.0; b.len()]).collect();
    let mut v_b = m_b.clone();
    let (beta1, beta2, eps): (f64, f64, f64) = (0.9, 0.999, 1e-8);
    let n = x.rows as f64;
    let mut loss = 0.0;
    for epoch in 1..=options.epochs {
        let mut grad_w: Vec<Matrix> = weights.iter().map(|w| Matrix::zeros(w.rows, w.cols)).collect();
        let mut grad_b: Vec<Vec<f64>> = biases.iter().map(|b| vec![0.0; b.len()]).collect();
        loss = 0.0;
        for i in 0..xs.rows {
            // Forward, keeping each layer's activation.
            let mut activations = vec![xs.row(i).to_vec()];
            for layer in 0..layers {
                let input = &activations[layer];
                let w = &weights[layer];
                let mut out: Vec<f64> = (0..w.cols)
                    .map(|c| biases[layer][c] + (0..w.rows).map(|j| input[j] * w.at(j, c)).sum::<f64>())
                    .collect();
                if layer + 1 < layers {
                    for value in &mut out {
                        *value = value.max(0.0);
                    }
                }
                activations.push(out);
            }
            let last = activations.last().cloned().unwrap_or_default();
            let mut delta: Vec<f64> = if options.regression {
                let errors: Vec<f64> = (0..outputs).map(|c| last[c] - y.at(i, c)).collect();
                loss += errors.iter().map(|e| e * e).sum::<f64>() / (n * outputs as f64);
                errors.iter().map(|e| 2.0 * e / outputs as f64).collect()
            } else {
                let mut probabilities = last;
                softmax_in_place(&mut probabilities);
                loss -= probabilities[labels[i]].max(1e-300).ln() / n;
                (0..outputs).map(|c| probabilities[c] - f64::from(u8::from(c == labels[i]))).collect()
            };
            // Backward.
            for layer in (0..layers).rev() {
                let input = &activations[layer];
                for c in 0..weights[layer].cols {
                    grad_b[layer][c] += delta[c] / n;
                    for j in 0..weights[layer].rows {
                        grad_w[layer].data[j * weights[layer].cols + c] += input[j] * delta[c] / n;
                    }
                }
                if layer > 0 {
                    let w = &weights[layer];
                    delta = (0..w.rows)
                        .map(|j| {
                            let back: f64 = (0..w.cols).map(|c| w.at(j, c) * delta[c]).sum();
                            if input[j] > 0.0 { back } else { 0.0 }
                        })
                        .collect();
                }
            }
        }
        let t = epoch as i32;
        let correction1 = 1.0 - beta1.powi(t);
        let correction2 = 1.0 - beta2.powi(t);
        for layer in 0..layers {
            for (index, weight) in weights[layer].data.iter_mut().enumerate() {
                let g = grad_w[layer].data[index] + options.l2 * *weight;
                m_w[layer][index] = beta1 * m_w[layer][index] + (1.0 - beta1) * g;
                v_w[layer][index] = beta2 * v_w[layer][index] + (1.0 - beta2) * g * g;
                *weight -= options.learning_rate * (m_w[layer][index] / correction1)
                    / ((v_w[layer][index] / correction2).sqrt() + eps);
            }
            for (index, bias) in biases[layer].iter_mut().enumerate() {
                let g = grad_b[layer][index];
                m_b[layer][index] = beta1 * m_b[layer][index] + (1.0 - beta1) * g;
                v_b[layer][index] = beta2 * v_b[layer][index] + (1.0 - beta2) * g * g;
                *bias -= options.learning_rate * (m_b[layer][index] / correction1)
                    / ((v_b[layer][index] / correction2).sqrt() + eps);
            }
        }
    }
    // The first layer absorbs the standardisation.
    let (w0, b0) = fold(&weights[0], &biases[0], &mean, &std);
    weights[0] = w0;
    biases[0] = b0;
    let mut graph = Graph::default();
    let mut current = "x".to_string();
    for layer in 0..layers {
        current = dense(&mut graph, &current, &weights[layer], &biases[layer]);
        if layer + 1 < layers {
            current = graph.node("Relu", &[&current], &[], None);
        }
    }
    let mut summary = vec![
        ("kind", Summary::Text("mlp".into())),
        ("epochs", Summary::Int(options.epochs as i64)),
        ("loss", Summary::Float(loss)),
    ];
    let onnx = if options.regression && outputs == 1 && options.vector_targets {
        let shape = graph.int_constant(&[-1]);
        graph.node("Reshape", &[&current, &shape], &[], Some("y"));
        graph.finish("x", x.cols, "y", FLOAT, &[])
    } else if options.regression {
        graph.node("Identity", &[&current], &[], Some("y"));
        graph.finish("x", x.cols, "y", FLOAT, &[outputs])
    } else {
        graph.node("Softmax", &[&current], &[Attr::Int("axis", -1)], Some("probs"));
        summary.push(("classes", Summary::Int(outputs as i64)));
        graph.finish("x", x.cols, "probs", FLOAT, &[outputs])
    };
    Ok(Trained { onnx, summary })
}
