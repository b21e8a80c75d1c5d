#!/usr/bin/env bash
# Train the EfficientNet detectors on a CUDA machine from a packed face set, one training
# process per config, side by side (data loading, not the GPU, is what limits the speed).
#
#   python -m unmask.train.pack configs/effnet_sbi.yaml runs/faces --jpeg-quality 95  # here
#   tools/gpu_train.sh runs/faces runs/gpu 30                                         # there
#   unmask train configs/effnet_sbi.yaml --export-only --set out_dir=../runs/gpu     # here,
#     after copying runs/gpu/effnet_sbi/best.pt back to the same place (export, ONNX check
#     and calibration from the checkpoint, with this machine's toolchain and the unpacked
#     crops; out_dir is relative to the config's folder)
#
# usage: tools/gpu_train.sh FACESET RUNS_DIR EPOCHS [CONFIG.yaml ...] [-- --set KEY=VALUE ...]
set -u
if [ $# -lt 3 ]; then
    echo "usage: $0 FACESET RUNS_DIR EPOCHS [CONFIG.yaml ...] [-- --set KEY=VALUE ...]" >&2
    exit 2
fi
faces=$(realpath "$1"); runs=$(realpath -m "$2"); epochs=$3; shift 3
configs=(); extra=()
while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
    configs+=("$1"); shift
done
[ ${#configs[@]} -gt 0 ] || configs=(configs/effnet_sbi.yaml configs/effnet_sbi_realonly.yaml)
device=${UNMASK_TRAIN_DEVICE:-cuda}
workers=$(( ($(nproc) - ${#configs[@]}) / ${#configs[@]} )); [ "$workers" -ge 1 ] || workers=1
mkdir -p "$runs"
python=${PYTHON:-python3}
pids=()
for cfg in "${configs[@]}"; do
    name=$(basename "$cfg" .yaml)
    "$python" -m unmask train "$cfg" --set "data.faceset=$faces" --set "out_dir=$runs" \
        --set "optim.device=$device" --set "optim.workers=$workers" --set "optim.threads=1" \
        --set "optim.epochs=$epochs" "${extra[@]}" >"$runs/$name.log" 2>&1 &
    pids+=($!)
    echo "$name: pid $!, $workers loading processes, log $runs/$name.log"
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
