//! Inference with ONNX Runtime through `ort`, loading the shared library at run time.
//!
//! `ort` allows one environment per process, so [`Runtime::global`] creates it once and
//! hands out clones.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ndarray::{Array2, ArrayD, ArrayView4, Axis, Ix2, IxDyn};
use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::value::TensorRef;

use crate::error::ExportError;

/// Environment variable naming the ONNX Runtime library; wins over `ORT_DYLIB_PATH`.
pub const DYLIB_ENV: &str = "RONIN_ORT_DYLIB";

/// Where the ONNX Runtime library is looked for: `RONIN_ORT_DYLIB`, else `ORT_DYLIB_PATH`
/// at run time, else `ORT_DYLIB_PATH` as it was when this crate was compiled (the
/// workspace's `.cargo/config.toml` points it at `.ronin/onnxruntime/`). The file may not
/// exist; [`Runtime::global`] checks.
pub fn dylib_path() -> PathBuf {
    let from_env = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty());
    from_env(DYLIB_ENV)
        .or_else(|| from_env("ORT_DYLIB_PATH"))
        .map(PathBuf::from)
        .or_else(|| option_env!("ORT_DYLIB_PATH").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("libonnxruntime.so"))
}

/// Graph optimisations ONNX Runtime applies when loading a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OptimizationLevel {
    Disable,
    Basic,
    Extended,
    #[default]
    All,
}

impl From<OptimizationLevel> for GraphOptimizationLevel {
    fn from(level: OptimizationLevel) -> Self {
        match level {
            OptimizationLevel::Disable => Self::Disable,
            OptimizationLevel::Basic => Self::Level1,
            OptimizationLevel::Extended => Self::Level2,
            OptimizationLevel::All => Self::All,
        }
    }
}

/// Where a session computes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExecutionDevice {
    /// ONNX Runtime's CPU execution provider.
    #[default]
    Cpu,
    /// The CUDA execution provider on GPU `N` when this ONNX Runtime has it, else the CPU.
    CudaIfAvailable(i32),
    /// The CUDA execution provider on GPU `N`, or an error.
    Cuda(i32),
}

/// Per-session settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOptions {
    /// Threads for one operator; `None` lets ONNX Runtime choose (one per core).
    pub intra_threads: Option<usize>,
    pub optimization: OptimizationLevel,
    pub device: ExecutionDevice,
}

/// A loaded ONNX Runtime: the process-wide environment.
#[derive(Debug, Clone)]
pub struct Runtime {
    env: Environment,
    dylib: PathBuf,
}

static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);

impl Runtime {
    /// The process-wide runtime, loading the library from [`dylib_path`] on first use.
    /// A failed load is not remembered: a later call tries again.
    pub fn global() -> Result<Runtime, ExportError> {
        let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(rt) = slot.as_ref() {
            return Ok(rt.clone());
        }
        let dylib = dylib_path();
        if !dylib.is_file() {
            return Err(ExportError::DylibMissing { path: dylib });
        }
        let builder = ort::init_from(&dylib).map_err(|source| ExportError::DylibLoad {
            path: dylib.clone(),
            source,
        })?;
        let env = builder
            .with_name("ronin")
            .build()
            .map_err(ExportError::ort("create the environment"))?;
        let rt = Runtime { env, dylib };
        *slot = Some(rt.clone());
        Ok(rt)
    }

    /// The library file this runtime was loaded from.
    pub fn dylib(&self) -> &Path {
        &self.dylib
    }

    /// Loads a serialised ONNX model.
    pub fn load_bytes(
        &self,
        bytes: &[u8],
        opts: &SessionOptions,
    ) -> Result<OnnxModel, ExportError> {
        self.load(bytes, opts, None)
    }

    /// Loads an ONNX model file.
    pub fn load_file(
        &self,
        path: impl AsRef<Path>,
        opts: &SessionOptions,
    ) -> Result<OnnxModel, ExportError> {
        let path = path.as_ref();
        let bytes = fs_err::read(path)?;
        self.load(&bytes, opts, Some(path))
    }

    /// A session on the device `opts` asks for. `CudaIfAvailable` is the CPU with a CPU
    /// build of ONNX Runtime, and falls back to the CPU when a GPU build's CUDA provider
    /// cannot start (no driver, no device, a CUDA library missing), recording why
    /// ([`OnnxModel::placement`]). Bytes ONNX Runtime cannot load from `file` are
    /// [`ExportError::NotAModel`].
    fn load(
        &self,
        bytes: &[u8],
        opts: &SessionOptions,
        file: Option<&Path>,
    ) -> Result<OnnxModel, ExportError> {
        let on_cpu = || -> Result<Session, ExportError> {
            self.builder(opts)?
                .commit_from_memory(bytes)
                .map_err(|e| match file {
                    Some(path) => ExportError::NotAModel {
                        path: path.to_owned(),
                        reason: provider_message(e.message()),
                    },
                    None => ExportError::ort("load the model from memory")(e),
                })
        };
        let (id, required) = match opts.device {
            ExecutionDevice::Cpu => return OnnxModel::new(on_cpu()?, Placement::Cpu),
            ExecutionDevice::CudaIfAvailable(id) => (id, false),
            ExecutionDevice::Cuda(id) => (id, true),
        };
        if !cuda_available() {
            if required {
                return Err(ExportError::NoCuda {
                    dylib: self.dylib.clone(),
                });
            }
            // The CPU build: `auto` means the CPU, nothing to report.
            return OnnxModel::new(on_cpu()?, Placement::Cpu);
        }
        let reason = match cuda_session(self.builder(opts)?, bytes, id) {
            Ok(session) => return OnnxModel::new(session, Placement::Cuda(id)),
            Err(reason) => reason,
        };
        if required {
            return Err(ExportError::CudaFailed { device: id, reason });
        }
        OnnxModel::new(on_cpu()?, Placement::CpuFallback(reason))
    }

    fn builder(&self, opts: &SessionOptions) -> Result<SessionBuilder, ExportError> {
        // Builder errors carry the builder back; keep only the message and code.
        let plain =
            |e: ort::Error<SessionBuilder>| ort::Error::new_with_code(e.code(), e.message());
        let mut b = Session::builder(&self.env).map_err(ExportError::ort("create a session"))?;
        b = b
            .with_optimization_level(opts.optimization.into())
            .map_err(|e| ExportError::ort("set the optimization level")(plain(e)))?;
        if let Some(n) = opts.intra_threads {
            b = b
                .with_intra_threads(n)
                .map_err(|e| ExportError::ort(format!("set {n} intra-op threads"))(plain(e)))?;
        }
        Ok(b)
    }
}

/// A session with the CUDA provider on device `id`, or the provider's complaint.
fn cuda_session(builder: SessionBuilder, bytes: &[u8], id: i32) -> Result<Session, String> {
    let cuda = ort::ep::CUDA::default().with_device_id(id);
    builder
        .with_execution_providers([cuda.build().error_on_failure()])
        .map_err(|e| provider_message(e.message()))?
        .commit_from_memory(bytes)
        .map_err(|e| provider_message(e.message()))
}

/// ONNX Runtime's message without the source location and status prefix it starts with
/// (`/onnxruntime_src/…cc:2043 … [ONNXRuntimeError] : 1 : FAIL : Failed to load library …`).
fn provider_message(message: &str) -> String {
    message
        .find("[ONNXRuntimeError]")
        .and_then(|at| message[at..].splitn(4, " : ").nth(3))
        .unwrap_or(message)
        .trim()
        .trim_end_matches('.')
        .to_owned()
}

/// Whether the loaded library was built with the CUDA execution provider.
fn cuda_available() -> bool {
    use ort::ep::ExecutionProvider;
    ort::ep::CUDA::is_available().unwrap_or(false)
}

/// Where a loaded model computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    Cpu,
    /// On the CPU because CUDA was asked for only if available, and this GPU build's CUDA
    /// provider could not start: why.
    CpuFallback(String),
    Cuda(i32),
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Placement::Cpu | Placement::CpuFallback(_) => f.write_str("cpu"),
            Placement::Cuda(id) => write!(f, "cuda:{id}"),
        }
    }
}

/// A model loaded in ONNX Runtime, taking one `[N, C, H, W]` input and giving `[N, K]`.
#[derive(Debug)]
pub struct OnnxModel {
    session: Mutex<Session>,
    input_name: String,
    output_name: String,
    output_names: Vec<String>,
    /// Declared input shape; `None` for a dynamic axis.
    input_shape: Vec<Option<usize>>,
    placement: Placement,
}

impl OnnxModel {
    fn new(session: Session, placement: Placement) -> Result<Self, ExportError> {
        let (Some(input), Some(output)) = (session.inputs().first(), session.outputs().first())
        else {
            return Err(ExportError::ort("inspect the model")(ort::Error::new(
                "the model has no input or no output",
            )));
        };
        let input_shape = input
            .dtype()
            .tensor_shape()
            .map(|s| s.iter().map(|&d| usize::try_from(d).ok()).collect())
            .unwrap_or_default();
        Ok(Self {
            input_name: input.name().to_owned(),
            output_name: output.name().to_owned(),
            output_names: session
                .outputs()
                .iter()
                .map(|o| o.name().to_owned())
                .collect(),
            input_shape,
            session: Mutex::new(session),
            placement,
        })
    }

    /// Where the model computes (and, after a fallback to the CPU, why).
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    pub fn input_name(&self) -> &str {
        &self.input_name
    }

    pub fn output_name(&self) -> &str {
        &self.output_name
    }

    /// Declared input shape, `None` for dynamic axes (the batch).
    pub fn input_shape(&self) -> &[Option<usize>] {
        &self.input_shape
    }

    /// Names of every graph output, in order.
    pub fn output_names(&self) -> &[String] {
        &self.output_names
    }

    /// The fixed batch size the model declares; `None` for a dynamic batch axis.
    pub fn fixed_batch(&self) -> Option<usize> {
        self.input_shape.first().copied().flatten()
    }

    /// Runs a batch. A model with a fixed batch size `B` (see [`Self::fixed_batch`]) is fed
    /// `B` examples at a time, the last chunk padded with zeros and its rows dropped.
    ///
    /// # Shapes
    /// `input`: `[N, C, H, W]` matching the model's declared `C, H, W`; returns `[N, K]`.
    pub fn run(&self, input: ArrayView4<'_, f32>) -> Result<Array2<f32>, ExportError> {
        let mut outs = self.run_outputs(input, std::slice::from_ref(&self.output_name))?;
        let out = outs.pop().unwrap_or_else(|| ArrayD::zeros(IxDyn(&[0, 0])));
        let shape = out.shape().to_vec();
        out.into_dimensionality::<Ix2>()
            .map_err(|_| ExportError::OutputShape {
                name: self.output_name.clone(),
                shape,
            })
    }

    /// Runs a batch and returns every graph output (in [`Self::output_names`] order), as
    /// [`Self::run`] does the first; used to read intermediate tensors for calibration.
    ///
    /// # Shapes
    /// `input`: `[N, C, H, W]`; each output has `N` rows.
    pub fn run_all(&self, input: ArrayView4<'_, f32>) -> Result<Vec<ArrayD<f32>>, ExportError> {
        self.run_outputs(input, &self.output_names)
    }

    fn run_outputs(
        &self,
        input: ArrayView4<'_, f32>,
        names: &[String],
    ) -> Result<Vec<ArrayD<f32>>, ExportError> {
        let found = input.shape().to_vec();
        let fits = self.input_shape.len() == found.len()
            && self
                .input_shape
                .iter()
                .zip(&found)
                .skip(1)
                .all(|(want, &got)| want.is_none_or(|w| w == got));
        if !fits {
            let expected = self
                .input_shape
                .iter()
                .map(|d| d.map_or_else(|| "N".to_owned(), |v| v.to_string()))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ExportError::InputShape {
                found,
                expected: format!("[{expected}]"),
            });
        }
        let n = found[0];
        let Some(b) = self.fixed_batch().filter(|&b| b != n && b > 0) else {
            return self.run_once(input, names);
        };
        // A fixed batch: chunks of `b`, the last one padded, rows past `n` dropped.
        let mut parts: Vec<Vec<ArrayD<f32>>> = Vec::new();
        for start in (0..n).step_by(b) {
            let end = (start + b).min(n);
            let mut chunk = ndarray::Array4::<f32>::zeros((b, found[1], found[2], found[3]));
            chunk
                .slice_mut(ndarray::s![..end - start, .., .., ..])
                .assign(&input.slice(ndarray::s![start..end, .., .., ..]));
            let outs = self.run_once(chunk.view(), names)?;
            parts.push(
                outs.into_iter()
                    .map(|o| o.slice_axis(Axis(0), (0..end - start).into()).to_owned())
                    .collect(),
            );
        }
        (0..names.len())
            .map(|k| {
                let views: Vec<_> = parts.iter().map(|p| p[k].view()).collect();
                ndarray::concatenate(Axis(0), &views).map_err(|_| ExportError::OutputShape {
                    name: names[k].clone(),
                    shape: parts
                        .first()
                        .map(|p| p[k].shape().to_vec())
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    fn run_once(
        &self,
        input: ArrayView4<'_, f32>,
        names: &[String],
    ) -> Result<Vec<ArrayD<f32>>, ExportError> {
        let contiguous = input.as_standard_layout();
        let tensor = TensorRef::from_array_view(&contiguous)
            .map_err(ExportError::ort("wrap the input tensor"))?;
        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let outputs = session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(ExportError::ort("run the model"))?;
        names
            .iter()
            .map(|name| {
                let out = outputs[name.as_str()]
                    .try_extract_array::<f32>()
                    .map_err(ExportError::ort(format!("read output `{name}`")))?;
                Ok(out.to_owned())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::provider_message;

    #[test]
    fn provider_messages_lose_their_source_location() {
        let raw = "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 \
                   onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] \
                   : 1 : FAIL : Failed to load library libonnxruntime_providers_cuda.so with \
                   error: libcuda.so.1: cannot open shared object file\n";
        assert_eq!(
            provider_message(raw),
            "Failed to load library libonnxruntime_providers_cuda.so with error: libcuda.so.1: \
             cannot open shared object file"
        );
        assert_eq!(provider_message(" no device \n"), "no device");
    }
}
