"""Writes source/autograd/autograd.ipynb."""

from pathlib import Path

from nbbuild import OTTER_SETUP, check, code, md, notebook, setup, solution, write

cells = [
    md("""
    # Assignment 2: Autograd and the computational graph

    Training a neural network means following the gradient of a loss with respect to every parameter.
    PyTorch computes those gradients for you with **autograd**: while your code runs, PyTorch records every
    operation on tensors that *require grad* in a **computational graph**, and `backward()` walks that graph
    from the loss back to the inputs, applying the chain rule at each node.

    In this assignment you will

    1. use autograd to differentiate a function (`poly_grad`),
    2. derive gradients **by hand** and check them against autograd (`mse_grads`),
    3. write your own autograd operation with a `forward` and a `backward` (`SigmoidFn`),
    4. backpropagate through a small two-layer network by hand (`two_layer_backward`).

    After each exercise, run its `grader.check(...)` cell: it runs the *public* checks of that question.
    When your notebook is graded, hidden checks use other shapes, other values and other upstream gradients,
    and every gradient is compared against a reference computed by the grader, so make your answers general.
    """),
    setup(OTTER_SETUP),
    md("""
    ## The computational graph

    A tensor created with `requires_grad=True` is a **leaf** of the graph. Every operation on it produces a
    tensor that remembers how it was made in its `grad_fn`; following the `grad_fn`s backwards is following
    the graph. Calling `backward()` on a scalar computes d(scalar)/d(leaf) for every leaf and **adds** it to
    the leaf's `.grad`.

    Below, `c = (3a)²`. The chain rule gives dc/da = 2·(3a)·3 = 18a, so at a = 2 the gradient is 36.
    """),
    code("""
    a = torch.tensor(2.0, requires_grad=True)   # a leaf
    b = 3 * a                                   # b.grad_fn is MulBackward0
    c = b ** 2                                  # c.grad_fn is PowBackward0
    print("c =", c.item(), " c.grad_fn =", c.grad_fn, " its inputs:", c.grad_fn.next_functions)
    c.backward()
    print("dc/da =", a.grad)                    # tensor(36.)
    """),
    md("""
    Three facts about autograd that cause most bugs:

    * **Gradients accumulate.** A second `backward()` *adds* to `a.grad`. That is why training loops zero the
      gradients before each step.
    * **The graph is freed after `backward()`** (unless you ask for `retain_graph=True`), and only
      floating-point tensors can require grad.
    * **`torch.no_grad()` and `detach()` leave the graph.** Inside `with torch.no_grad():` nothing is recorded;
      `t.detach()` returns the same numbers without a `grad_fn`. Use them for anything that should not be
      differentiated, such as results you hand back to a caller.

    `backward()` stores gradients in `.grad`; `torch.autograd.grad(outputs, inputs)` *returns* them instead and
    touches no `.grad` at all, which is often cleaner inside a function.
    """),
    code("""
    c = (3 * a) ** 2
    c.backward()
    print("after a second backward, a.grad =", a.grad, "(36 + 36: accumulated)")
    a.grad = None

    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (g,) = torch.autograd.grad((x ** 3).sum(), x)    # d/dx of sum(x³) is 3x²
    print("gradient:", g, " x.grad is still", x.grad)
    with torch.no_grad():
        y = x * 2
    print("computed under no_grad: requires_grad =", y.requires_grad, "; detached:", (x * 2).detach().requires_grad)
    """),
    md("""
    ## 1. The derivative of a polynomial with autograd (2 points)

    A polynomial with coefficients `coeffs = [c₀, c₁, …, cₙ]` is p(x) = c₀ + c₁x + c₂x² + … + cₙxⁿ.
    Write `poly_grad(coeffs, x)` that returns the derivative of **sum(p(x))** with respect to `x`, computed
    **with autograd** (not with the formula). `x` can have any shape; because the sum adds independent terms,
    element `i` of the result is simply p′(x[i]), and the result has the shape of `x`.

    Be a good citizen towards the caller:

    * return a tensor **without a graph** (`requires_grad=False`): the caller wants numbers, not a graph;
    * leave `x.requires_grad` **as it was**. Calling `x.requires_grad_()` on the caller's tensor changes it for
      them; work on `x.detach().requires_grad_()` instead (a new leaf sharing the same numbers).
    """),
    solution("poly_grad", '''
    def poly_grad(coeffs, x):
        """d/dx of sum(p(x)), p(x) = sum_i coeffs[i] * x**i, with autograd; shaped like x, no graph."""
        ### BEGIN SOLUTION
        x = x.detach().requires_grad_(True)  # our own leaf: the caller's x is left as it was
        p = sum(c * x ** i for i, c in enumerate(coeffs))
        (grad,) = torch.autograd.grad(p.sum(), x)  # no create_graph: the result carries no graph
        return grad
        ### END SOLUTION
    '''),
    code("""
    # p(x) = 1 + 3x²  →  p'(x) = 6x
    poly_grad(torch.tensor([1.0, 0.0, 3.0]), torch.tensor([0.0, 1.0, 2.0]))
    """),
    check("poly_grad", 2),
    md("""
    ## 2. Gradients by hand: mean squared error (3 points)

    Autograd is convenient, but you should be able to derive the gradients it computes. Take linear regression
    with `X` of shape (N, D), weights `w` (D,), a 0-D bias `b` and targets `y` (N,):

    * prediction ŷ = X @ w + b, shape (N,),
    * residual r = ŷ − y,
    * loss L = mean(r²) = (1/N) Σᵢ rᵢ².

    With the chain rule, dL/drᵢ = 2rᵢ/N, and since ŷᵢ = Σⱼ Xᵢⱼ wⱼ + b:

    * dL/dwⱼ = Σᵢ (2rᵢ/N)·Xᵢⱼ, that is **dw = (2/N) · Xᵀ r**, shape (D,),
    * dL/db = Σᵢ 2rᵢ/N, that is **db = (2/N) · Σ r**, a 0-D tensor.

    Write `mse_grads(w, b, X, y)` that returns the tuple `(loss, dw, db)`: a 0-D loss, `dw` shaped like `w`,
    `db` shaped like `b`, **by hand**: no `backward()`, no `torch.autograd`. (The grader even runs it with
    autograd switched off.) Then compare with autograd in the cell below.
    """),
    solution("mse_grads", '''
    def mse_grads(w, b, X, y):
        """(loss, dw, db) of loss = mean((X @ w + b - y)**2), gradients derived by hand."""
        ### BEGIN SOLUTION
        n = X.shape[0]
        residual = X @ w + b - y               # (N,)
        loss = (residual ** 2).mean()          # 0-D
        dw = 2.0 / n * (X.T @ residual)        # (D,)
        db = 2.0 / n * residual.sum()          # 0-D
        return loss, dw, db
        ### END SOLUTION
    '''),
    code("""
    # Compare with autograd: the numbers should agree to about 1e-15 in float64.
    X = torch.randn(6, 3, dtype=torch.float64)
    y = torch.randn(6, dtype=torch.float64)
    w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    ((X @ w + b - y) ** 2).mean().backward()
    loss, dw, db = mse_grads(w.detach(), b.detach(), X, y)
    print("dw by hand:", dw, "\\ndw autograd:", w.grad)
    print("db by hand:", db.item(), " db autograd:", b.grad.item())
    """),
    check("mse_grads", 3),
    md("""
    ## 3. Your own autograd operation: vector-Jacobian products (3 points)

    For a function y = f(x) with x of n elements and y of m elements, the **Jacobian** J is the m × n matrix of
    partial derivatives ∂yᵢ/∂xⱼ. Autograd never builds J. During the backward pass, every operation receives
    the gradient of the loss with respect to its output, v = dL/dy (the **upstream gradient**, called
    `grad_output`), and returns the gradient with respect to its input, dL/dx = vᵀJ: a
    **vector-Jacobian product** (VJP). Chaining VJPs from the loss back to the leaves *is* backpropagation.

    `torch.autograd.grad(y, x, v)` computes exactly vᵀJ for a non-scalar `y`:
    """),
    code("""
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = torch.stack([x[0] * x[1], x[0] ** 2])          # J = [[x1, x0], [2 x0, 0]] = [[2, 1], [2, 0]]
    v = torch.tensor([1.0, 10.0])
    print("vᵀJ =", torch.autograd.grad(y, x, v)[0])     # [1·2 + 10·2, 1·1 + 10·0] = [22, 1]
    print("J   =", torch.autograd.functional.jacobian(lambda t: torch.stack([t[0] * t[1], t[0] ** 2]), x.detach()))
    """),
    md("""
    You can add your own operation to autograd by subclassing `torch.autograd.Function` with two static methods:

    * `forward(ctx, x)` computes the output from plain tensors and may keep what the backward needs with
      `ctx.save_for_backward(...)`;
    * `backward(ctx, grad_output)` receives the upstream gradient (shaped like the output) and returns the
      gradient with respect to `x`, (shaped like `x`): the VJP, `grad_output` times the local derivative.

    The operation is used through `SigmoidFn.apply(x)`; the result's `grad_fn` is then your backward.

    Implement the **sigmoid** σ(x) = 1 / (1 + e⁻ˣ) this way. Its derivative has a neat form,
    σ′(x) = σ(x)·(1 − σ(x)), so a backward can reuse the forward's output. Sigmoid is elementwise, so its
    Jacobian is diagonal and the VJP is just `grad_output * σ(x) * (1 - σ(x))`. **Do not forget
    `grad_output`**: a backward that returns only the local derivative is right only when the upstream
    gradient happens to be all ones.

    The grader checks your forward against `torch.sigmoid`, your VJPs for upstream gradients of its choice
    against σ(x)(1−σ(x))·v, and your backward against finite differences of your own forward. You can run a
    similar test yourself with `torch.autograd.gradcheck` (see the cell after the exercise).
    """),
    solution("sigmoid_fn", '''
    class SigmoidFn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ### BEGIN SOLUTION
            out = 1.0 / (1.0 + torch.exp(-x))
            ctx.save_for_backward(out)  # σ'(x) = σ(x)(1 - σ(x)) needs only the output
            return out
            ### END SOLUTION

        @staticmethod
        def backward(ctx, grad_output):
            ### BEGIN SOLUTION
            (out,) = ctx.saved_tensors
            return grad_output * out * (1.0 - out)  # the VJP: upstream gradient times the local derivative
            ### END SOLUTION


    def sigmoid(x):
        return SigmoidFn.apply(x)
    '''),
    code("""
    t = torch.randn(5, dtype=torch.float64, requires_grad=True)
    print(sigmoid(t).grad_fn)   # SigmoidFnBackward: autograd will call your backward
    # gradcheck compares your backward with finite differences of your forward (float64 needed)
    print("gradcheck:", torch.autograd.gradcheck(sigmoid, (t,)))
    """),
    check("sigmoid_fn", 3),
    md("""
    ## 4. Backpropagation through a two-layer network, by hand (2 points)

    Now chain several VJPs yourself. The network is what `nn.Sequential(nn.Linear(D, H), nn.ReLU(),
    nn.Linear(H, O))` computes, with weights shaped as in `nn.Linear` (W1 (H, D), b1 (H,), W2 (O, H), b2 (O,)):

        z   = x @ W1.T + b1        (N, H)
        h   = relu(z)              (N, H)
        out = h @ W2.T + b2        (N, O)
        L   = mean((out - y)**2)   over all N·O elements

    Go backwards, one step at a time; every gradient has the shape of the tensor it belongs to:

    * dL/dout = 2(out − y)/(N·O), shape (N, O) (the mean is over **all** N·O elements);
    * a linear layer out = h @ W2ᵀ + b2 gives dW2 = (dL/dout)ᵀ @ h, db2 = the sum of dL/dout over the batch,
      and passes dL/dh = dL/dout @ W2 back to its input;
    * ReLU passes the gradient through where z > 0 and blocks it elsewhere: dL/dz = dL/dh · (z > 0);
    * the first layer is a linear layer again: dW1 = (dL/dz)ᵀ @ x and db1 = the sum of dL/dz over the batch.

    Write `two_layer_backward(x, W1, b1, W2, b2, y)` returning the dict `{"W1": …, "b1": …, "W2": …, "b2": …}`
    of the gradients of L, **by hand** (no `backward()`), and check it against autograd below.
    """),
    solution("two_layer_backward", '''
    def two_layer_backward(x, W1, b1, W2, b2, y):
        """Gradients of mean((relu(x @ W1.T + b1) @ W2.T + b2 - y)**2) w.r.t. W1, b1, W2, b2, by hand."""
        ### BEGIN SOLUTION
        z = x @ W1.T + b1                      # (N, H)
        h = torch.relu(z)                      # (N, H)
        out = h @ W2.T + b2                    # (N, O)
        d_out = 2.0 * (out - y) / out.numel()  # (N, O): the mean runs over all N·O elements
        d_W2 = d_out.T @ h                     # (O, H)
        d_b2 = d_out.sum(dim=0)                # (O,)
        d_h = d_out @ W2                       # (N, H)
        d_z = d_h * (z > 0)                    # ReLU lets the gradient through where z > 0
        d_W1 = d_z.T @ x                       # (H, D)
        d_b1 = d_z.sum(dim=0)                  # (H,)
        return {"W1": d_W1, "b1": d_b1, "W2": d_W2, "b2": d_b2}
        ### END SOLUTION
    '''),
    code("""
    N, D, H, O = 4, 3, 5, 2
    params = {"W1": torch.randn(H, D, dtype=torch.float64), "b1": torch.randn(H, dtype=torch.float64),
              "W2": torch.randn(O, H, dtype=torch.float64), "b2": torch.randn(O, dtype=torch.float64)}
    x, y = torch.randn(N, D, dtype=torch.float64), torch.randn(N, O, dtype=torch.float64)
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    out = torch.relu(x @ leaves["W1"].T + leaves["b1"]) @ leaves["W2"].T + leaves["b2"]
    ((out - y) ** 2).mean().backward()
    mine = two_layer_backward(x, params["W1"], params["b1"], params["W2"], params["b2"], y)
    for k in params:
        print(k, "matches autograd:", torch.allclose(mine[k], leaves[k].grad))
    """),
    check("two_layer_backward", 2),
    md("""
    ## Before you submit

    Run all the public checks at once. Passing them does not guarantee full marks: hidden checks use other
    shapes, values and upstream gradients.
    """),
    code("grader.check_all()"),
]

write(Path(__file__).resolve().parents[1] / "source" / "autograd" / "autograd.ipynb", notebook("autograd", cells))
