"""Writes source/vision/vision.ipynb."""

from pathlib import Path

from nbbuild import OTTER_SETUP, check, code, md, notebook, setup, solution, write

cells = [
    md("""
    # Assignment 5: A small CNN for handwritten digits

    Computer vision models read images. To PyTorch a batch of images is a 4-D tensor of shape
    **(N, C, H, W)**: N images, C colour channels (1 for grey), H rows and W columns of pixels.
    In this assignment you:

    1. learn what a **convolution** computes and build a small **convolutional neural network** (CNN),
       `DigitsCNN`;
    2. write **device-agnostic** code that runs on a CPU or a GPU without changes;
    3. train the CNN on scikit-learn's 8×8 handwritten digits with a mini-batch training loop.

    After each exercise, run its `grader.check(...)` cell (public checks). When graded, your model is
    trained on the grader's own split of the digits and tested on images it held back and perturbed with a
    little noise, so only a model that has really learned to read digits scores well.
    """),
    setup(OTTER_SETUP),
    setup("""
    from torch import nn
    import torch.nn.functional as F
    import matplotlib.pyplot as plt
    from sklearn.datasets import load_digits
    """, grade_id="imports"),
    md("""
    ## The data: 8×8 digits

    `load_digits()` ships with scikit-learn (no download): 1797 grey images of 8×8 pixels with values
    0…16, and their labels 0…9. We scale the pixels to [0, 1], add the channel dimension to get
    `(N, 1, 8, 8)` float32, keep the labels as int64 (what `nn.CrossEntropyLoss` expects), and hold out
    20% as a test set.
    """),
    code("""
    digits = load_digits()
    X = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (1797, 1, 8, 8)
    y = torch.tensor(digits.target, dtype=torch.int64)                           # (1797,)

    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    n_test = len(X) // 5
    X_train, y_train = X[perm[n_test:]], y[perm[n_test:]]
    X_test, y_test = X[perm[:n_test]], y[perm[:n_test]]
    print(X_train.shape, X_train.dtype, y_train.shape, y_train.dtype, X_test.shape)
    """),
    code("""
    fig, axes = plt.subplots(1, 8, figsize=(8, 1.4))
    for ax, img, label in zip(axes, X_train[:8], y_train[:8]):
        ax.imshow(img[0], cmap="gray_r")
        ax.set_title(int(label))
        ax.axis("off")
    plt.show()
    """),
    md("""
    ## Convolutions

    A fully connected layer (`nn.Linear`) connects every pixel to every output and ignores where pixels are.
    A **convolution** instead slides a small **kernel** (say 3×3 weights) over the image; at every position
    it multiplies the kernel with the patch under it, sums, and adds a bias. The result is a new image,
    a **feature map**, that is large where the patch looks like the kernel: an edge, a corner, a stroke.
    The same few weights are used at every position, so a convolution needs few parameters and finds a
    pattern wherever it is.

    `nn.Conv2d(in_channels, out_channels, kernel_size, padding=...)` learns `out_channels` kernels, each
    spanning all `in_channels`. Its parameter count is `out·in·k·k + out`. For an input of height H the
    output height is `(H + 2·padding − kernel_size) / stride + 1`, so `kernel_size=3, padding=1` keeps 8×8.
    `nn.MaxPool2d(2)` keeps the largest value of every 2×2 block and halves height and width.
    `nn.Flatten()` turns `(N, C, H, W)` into `(N, C·H·W)` for the final `nn.Linear`.

    Here is one hand-made kernel that responds to vertical edges, applied with `F.conv2d`:
    """),
    code("""
    edge = torch.tensor([[[[1.0, 0.0, -1.0],
                           [1.0, 0.0, -1.0],
                           [1.0, 0.0, -1.0]]]])               # (out=1, in=1, 3, 3)
    feature_map = F.conv2d(X_train[:1], edge, padding=1)      # (1, 1, 8, 8)
    fig, (a, b) = plt.subplots(1, 2, figsize=(3, 1.6))
    a.imshow(X_train[0, 0], cmap="gray_r"); a.set_title("image"); a.axis("off")
    b.imshow(feature_map[0, 0], cmap="coolwarm"); b.set_title("vertical edges"); b.axis("off")
    plt.show()

    conv = nn.Conv2d(1, 8, kernel_size=3, padding=1)
    print("conv output:", conv(X_train[:4]).shape, " parameters:", sum(p.numel() for p in conv.parameters()))
    print("after pooling:", nn.MaxPool2d(2)(conv(X_train[:4])).shape)
    """),
    md("""
    ## 1. DigitsCNN (3 points)

    Write `class DigitsCNN(nn.Module)` so that `DigitsCNN()` (no arguments) maps a batch of shape
    `(N, 1, 8, 8)` to **logits** of shape `(N, 10)`, one score per digit (no softmax: the loss applies it).
    Requirements:

    * at least one `nn.Conv2d`;
    * at most **100,000** parameters (a good model here needs about 10,000);
    * a typical design: two `Conv2d` + `ReLU` blocks, a `MaxPool2d(2)`, `Flatten`, and a `Linear` layer to 10
      outputs. Work out the size of the flattened features with the formulas above (or print a shape).
    """),
    solution("digits_cnn", '''
    class DigitsCNN(nn.Module):
        """(N, 1, 8, 8) images -> (N, 10) logits."""

        def __init__(self):
            super().__init__()
            ### BEGIN SOLUTION
            self.features = nn.Sequential(
                nn.Conv2d(1, 16, kernel_size=3, padding=1),   # (N, 16, 8, 8)
                nn.ReLU(),
                nn.Conv2d(16, 32, kernel_size=3, padding=1),  # (N, 32, 8, 8)
                nn.ReLU(),
                nn.MaxPool2d(2),                              # (N, 32, 4, 4)
            )
            self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 10))
            ### END SOLUTION

        def forward(self, x):
            ### BEGIN SOLUTION
            return self.classifier(self.features(x))
            ### END SOLUTION
    '''),
    code("""
    cnn = DigitsCNN()
    print(cnn(X_train[:7]).shape, "parameters:", sum(p.numel() for p in cnn.parameters()))
    """),
    check("digits_cnn", 3),
    md("""
    ## Device-agnostic code

    A tensor lives on a **device**: the CPU, or a GPU (`"cuda"`). An operation needs all its tensors on the
    same device, otherwise PyTorch raises *"Expected all tensors to be on the same device"*. Code that
    works everywhere picks the device once and moves everything there:

    ```python
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = DigitsCNN().to(device)   # moves the parameters (in place; returns the model)
    X = X.to(device)                 # returns a copy on the device (tensors do not move in place)
    ```

    Never write `"cuda"` into a function: take the device as an argument. Tensors you create yourself
    (inside `forward`, say) go on the same device as their input: `torch.zeros(..., device=x.device)`.
    Bring results back with `.cpu()` before numpy or plotting.
    """),
    code("""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print("this notebook runs on", device)
    print("parameters of a new model live on", next(DigitsCNN().to(device).parameters()).device)
    """),
    md("""
    ## 2. Training the CNN (5 points) on any device (2 points)

    Ten classes need the **cross-entropy loss** on logits: `nn.CrossEntropyLoss()(logits, labels)` with
    logits `(N, 10)` float and labels `(N,)` int64. It applies the (log-)softmax itself, the multi-class
    version of the stable BCE of the classification assignment.

    With more data than fits in one step comfortably, train on **mini-batches**: each epoch, shuffle the
    indices (`torch.randperm`) or use a `DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)`, and
    run the five steps of the training loop on each batch. `torch.optim.Adam` with a learning rate of about
    `1e-3`–`3e-3` and 10–20 epochs is a good start.

    Write `train_digits(X, y, device)`: build a `DigitsCNN` **on `device`**, move the data there, train it,
    and return the trained model (still on `device`). `X` is `(N, 1, 8, 8)` float32 in [0, 1], `y` int64 `(N,)`.

    How it is graded:

    * `train_digits` (5 points): the grader calls it with its own training split (seeded), then measures the
      accuracy of your model in evaluation mode on its held-out images, perturbed with a little Gaussian noise.
      At least 0.90 earns 3 points, at least 0.95 all 5. It must finish within **60 s** on one CPU core (a
      few seconds is normal).
    * `device_agnostic` (2 points): every parameter and buffer of the returned model is on `device`, and
      the model's outputs for inputs on `device` are on `device` too. On a GPU runner the grader passes
      `device="cuda"`.
    """),
    solution("train_digits", '''
    def train_digits(X, y, device):
        """Train a DigitsCNN on X (N, 1, 8, 8) and y (N,) on `device`; return the trained model."""
        ### BEGIN SOLUTION
        model = DigitsCNN().to(device)
        X, y = X.to(device), y.to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        loss_fn = nn.CrossEntropyLoss()
        batch_size = 32
        model.train()
        for epoch in range(10):
            order = torch.randperm(len(X), device=device)
            for start in range(0, len(X), batch_size):
                idx = order[start:start + batch_size]
                loss = loss_fn(model(X[idx]), y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return model
        ### END SOLUTION
    '''),
    code("""
    torch.manual_seed(0)
    model = train_digits(X_train, y_train, device)
    noisy_test = (X_test + 0.02 * torch.randn(X_test.shape)).clamp(0, 1)  # like the grader's test images
    model.eval()
    with torch.inference_mode():
        pred = model(noisy_test.to(device)).argmax(dim=1).cpu()
    print("test accuracy:", (pred == y_test).float().mean().item())
    print("devices of the model's parameters:", {str(p.device) for p in model.parameters()})
    """),
    check("train_digits", 5),
    check("device_agnostic", 2),
    md("""
    ## Before you submit

    Run all the checks at once. Passing them does not guarantee full marks: the hidden checks train your
    model on the grader's own split and test it on images you have not seen.
    """),
    code("grader.check_all()"),
]

write(Path(__file__).resolve().parents[1] / "source" / "vision" / "vision.ipynb", notebook("vision", cells))
