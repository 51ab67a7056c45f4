"The trained model used: `export_model` / `load_model` round trip, `petlesson predict`, and the breed widget (lesson 07)."
import io, json, os, subprocess, sys, textwrap, warnings
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np, pytest, torch
from PIL import Image
from conftest import ROOT, run_petlesson, run_main

warnings.filterwarnings('ignore')
from petlesson.synthetic import make_sample
from petlesson.pets import pets_dataloaders
from petlesson.photos import pet_species, BREEDS
from petlesson.models import pets_learner
from petlesson.predict import (pickled_globals, inference_dls, export_model, load_model, open_image, predict_images,
                               predict_files, format_prediction, breed_widget)
from petlesson.command import predict_main, main

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "A tiny pets model: 3 synthetic images per breed at 64 px, one epoch, exported to run/model.pkl"
    d = tmp_path_factory.mktemp('predict')
    root = make_sample(d/'pets', n_per_breed=3, min_side=64, max_side=96)
    learn = pets_learner(pets_dataloaders(root, presize=96, size=64, bs=16), 'efficientnet_lite0')
    with learn.no_bar(): learn.fit_one_cycle(1, 2e-3)
    photo = d/'photo.jpg'
    Image.open(learn.dls.valid_ds.items[0]).convert('RGB').save(photo, quality=95)
    return SimpleNamespace(learn=learn, root=root, dir=d, photo=photo, model=export_model(learn, d/'run'/'model.pkl'))

def jpeg_bytes(img, **kw):
    buf = io.BytesIO(); img.save(buf, format='JPEG', **kw); return buf.getvalue()

# ---- export and load ------------------------------------------------------------------------------------------

def test_export_names_only_fastai_and_its_dependencies(tiny):
    names = pickled_globals(tiny.model)
    assert not [n for n in names if n.startswith('petlesson')]
    assert any(n.startswith('timm.') for n in names) and any(n.startswith('fastai.') for n in names)
    # a plain `learn.export` of the same learner names petlesson's pieces: the check above can fail
    tiny.learn.export(tiny.dir/'plain.pkl')
    assert 'petlesson.photos.pet_label' in pickled_globals(tiny.dir/'plain.pkl')

def test_export_is_the_size_of_the_weights(tiny):
    weights = sum(t.numel() * t.element_size() for t in tiny.learn.model.state_dict().values())
    assert weights < tiny.model.stat().st_size < 1.05 * weights + 2**20

def test_export_leaves_the_learner_as_it_was(tiny):
    learn = tiny.learn
    layout = lambda: [p.is_contiguous() for p in learn.model.parameters()]
    before = (learn.dls, learn.opt_func, learn.opt, [type(cb) for cb in learn.cbs], layout())
    export_model(learn, tiny.dir/'again'/'model.pkl')
    assert (learn.dls, learn.opt_func, learn.opt, [type(cb) for cb in learn.cbs], layout()) == before
    assert sorted(p.name for p in (tiny.dir/'again').iterdir()) == ['model.pkl']   # no partial file left

def test_inference_dls_prepare_photos_like_the_validation_set(tiny):
    dls, files = tiny.learn.dls, tiny.learn.dls.valid_ds.items[:8]
    idl = inference_dls(dls)
    assert list(idl.vocab) == list(dls.vocab) and len(idl.train_ds) == len(idl.valid_ds) == 0
    assert {type(t).__module__.split('.')[0] for t in [*idl.valid.after_item.fs, *idl.valid.after_batch.fs]} == {'fastai'}
    a, b = (torch.Tensor(d.test_dl(files, bs=8).one_batch()[0]) for d in (dls, idl))
    assert a.shape == b.shape == (8, 3, 64, 64)
    assert (a - b).abs().mean() < 0.02

def test_inference_dls_find_the_final_size_in_an_affine_step(tiny):
    "With min_scale=1 fastai's `aug_transforms` resizes in its affine step (no RandomResizedCropGPU): same validation pixels"
    from fastai.vision.all import DataBlock, ImageBlock, CategoryBlock, RandomSplitter, Resize, aug_transforms, Normalize
    from petlesson.photos import pet_label
    block = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=lambda p: sorted((p/'images').glob('*.jpg')), get_y=pet_label,
                      splitter=RandomSplitter(seed=0), item_tfms=Resize(96),
                      batch_tfms=[*aug_transforms(size=64, min_scale=1.), Normalize.from_stats([0.5]*3, [0.5]*3)])
    dls = block.dataloaders(tiny.root, bs=8, num_workers=0)
    idl, files = inference_dls(dls), dls.valid_ds.items[:8]
    a, b = (torch.Tensor(d.test_dl(files, bs=8).one_batch()[0]) for d in (dls, idl))
    assert a.shape == b.shape == (8, 3, 64, 64)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)

def test_round_trip_offline_without_petlesson(tiny, tmp_path):
    "load_learner in a fresh process where petlesson cannot be imported and nothing can be downloaded"
    files = [str(f) for f in tiny.learn.dls.valid_ds.items[:4]]
    script = textwrap.dedent(f"""
        import json, socket, sys, warnings
        warnings.filterwarnings('ignore')
        sys.modules['petlesson'] = None                      # import petlesson now fails
        def refuse(*a, **k): raise RuntimeError('network or weights requested while loading')
        socket.socket.connect = socket.create_connection = refuse
        import torch.hub, timm
        torch.hub.load_state_dict_from_url = timm.create_model = refuse
        from fastai.learner import load_learner
        learn = load_learner({str(tiny.model)!r})
        with learn.no_bar(): probs = learn.get_preds(dl=learn.dls.test_dl({files!r}))[0]
        print(json.dumps(dict(vocab=list(learn.dls.vocab), probs=probs.tolist())))
        """)
    env = {**os.environ, 'PETLESSON_CACHE': str(tmp_path/'empty-cache'), 'HF_HUB_OFFLINE': '1', 'TORCH_HOME': str(tmp_path/'torch')}
    r = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out['vocab'] == list(tiny.learn.dls.vocab)
    model = load_model(tiny.model, 'cpu')
    with model.no_bar(): here = model.get_preds(dl=model.dls.test_dl(files))[0]
    np.testing.assert_allclose(out['probs'], here.numpy(), atol=1e-5)
    xb = torch.Tensor(model.dls.test_dl(files).one_batch()[0])
    with torch.no_grad(): torch.testing.assert_close(model.model.eval()(xb), tiny.learn.model.eval()(xb), atol=1e-4, rtol=1e-4)

def test_load_model_errors(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match='No model file at'): load_model(tmp_path/'nowhere.pkl')
    with pytest.raises(FileNotFoundError, match='folder without a model file'): load_model(tmp_path)
    (tmp_path/'model.pkl').write_text('not a model')
    with pytest.raises(ValueError, match='is not a model saved by'): load_model(tmp_path/'model.pkl')
    torch.save({'just': 'a dict'}, tmp_path/'dict.pkl')
    with pytest.raises(ValueError, match='dict.pkl is not a model saved by'): load_model(tmp_path/'dict.pkl')
    assert str(load_model(tiny.model.parent, 'cpu').dls.device) == 'cpu'   # the run's folder works too

# ---- reading photos and predicting ----------------------------------------------------------------------------

def test_open_image(tmp_path):
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 40, 3), dtype=np.uint8))
    assert open_image(jpeg_bytes(rgb)).size == (40, 20)
    assert open_image(np.zeros((20, 40), np.uint8)).mode == 'RGB'
    rgb.convert('RGBA').save(tmp_path/'a.png')
    assert open_image(tmp_path/'a.png').mode == 'RGB'
    exif = Image.Exif(); exif[0x0112] = 6   # a phone held upright: "rotate 90 degrees to display"
    rgb.save(tmp_path/'phone.jpg', exif=exif.tobytes())
    assert open_image(tmp_path/'phone.jpg').size == (20, 40)
    for bad, msg in [(b'hello', 'is not an image that PIL can read'), (jpeg_bytes(rgb)[:300], 'is not an image'),
                     (tmp_path, 'is a folder, not an image'), (np.zeros((2, 2, 7), np.float64), 'Cannot make an image')]:
        with pytest.raises(ValueError, match=msg): open_image(bad)
    with pytest.raises(FileNotFoundError, match='No such file'): open_image(tmp_path/'nowhere.jpg')

def test_predict_images(tiny):
    learn = tiny.learn
    res = predict_images(learn, [tiny.photo, open_image(tiny.photo)], k=3)
    assert len(res) == 2 and [b for b, _ in res[0]['top']] == [b for b, _ in res[1]['top']]
    r = res[0]
    assert len(r['top']) == 3 and set(r['probs']) == set(learn.dls.vocab) == set(BREEDS)
    assert abs(sum(r['probs'].values()) - 1) < 1e-4
    assert [p for _, p in r['top']] == sorted(r['probs'].values(), reverse=True)[:3]
    cat = sum(p for b, p in r['probs'].items() if pet_species(b) == 'cat')
    assert r['species'] == ('cat' if cat >= 0.5 else 'dog') and abs(r['species_probability'] - max(cat, 1 - cat)) < 1e-5
    assert len(predict_images(learn, [tiny.photo], k=37)[0]['top']) == 37 and predict_images(learn, []) == []
    text = format_prediction(dict(file='x.jpg', **r)).splitlines()
    assert text[0].startswith(f"x.jpg: {r['species']} (") and len(text) == 4 and r['top'][0][0] in text[1]

def test_predict_files_reports_each_problem_in_its_place(tiny, tmp_path):
    photos = tmp_path/'photos'; photos.mkdir(); (tmp_path/'empty').mkdir()
    good = tiny.photo.read_bytes()
    (photos/'a.jpg').write_bytes(good); (photos/'b.jpg').write_bytes(good[:len(good)//2]); (photos/'c.txt').write_text('skipped')
    (tmp_path/'notes.txt').write_text('not a photo')
    res = predict_files(tiny.learn, [photos, tmp_path/'empty', tmp_path/'nowhere.jpg', tmp_path/'notes.txt', tiny.photo], bs=2)
    assert [Path(r['file']).name for r in res] == ['a.jpg', 'b.jpg', 'empty', 'nowhere.jpg', 'notes.txt', 'photo.jpg']
    assert ['error' in r for r in res] == [False, True, True, True, True, False]
    assert 'truncated' in res[1]['error'] and 'without image files' in res[2]['error']
    assert 'No such file' in res[3]['error'] and 'not an image' in res[4]['error']
    assert [b for b, _ in res[0]['top']] == [b for b, _ in res[5]['top']]

# ---- the command ----------------------------------------------------------------------------------------------

def run_predict(capsys, *args):
    r = run_main(capsys, 'predict', *args)
    assert 'Traceback' not in r.stderr
    return r.returncode, r.stdout, r.stderr

def test_predict_command(tiny, capsys):
    rc, out, err = run_predict(capsys, tiny.model, tiny.photo, '--cpu')
    assert rc == 0 and err == ''
    lines = out.strip().splitlines()
    assert lines[0].startswith(f'{tiny.photo}: ') and ('cat (' in lines[0] or 'dog (' in lines[0]) and len(lines) == 4
    assert all('%' in l and l.rstrip().endswith(('(cat)', '(dog)')) for l in lines[1:])
    rc, out, _ = run_predict(capsys, tiny.model.parent, tiny.photo, '--json', '--top', '5')
    doc = json.loads(out)
    assert rc == 0 and doc['device'] == ('cuda' if torch.cuda.is_available() else 'cpu')
    (r,) = doc['results']
    assert r['file'] == str(tiny.photo) and len(r['top']) == 5 and set(r['top'][0]) == {'breed', 'species', 'probability'}
    assert [t['breed'] for t in r['top']][:3] == [b for b, _ in predict_images(tiny.learn, [tiny.photo])[0]['top']]

def test_predict_command_errors(tiny, tmp_path, capsys):
    (tmp_path/'empty').mkdir(); (tmp_path/'notes.txt').write_text('not a photo'); (tmp_path/'broken.jpg').write_bytes(tiny.photo.read_bytes()[:1500])
    for args, msg in [((tmp_path/'nowhere.pkl', tiny.photo), 'No model file at'),
                      ((tmp_path, tiny.photo), 'folder without a model file'),
                      ((tiny.photo, tiny.photo), 'is not a model saved by'),
                      ((tiny.model, tmp_path/'empty'), 'is a folder without image files'),
                      ((tiny.model, tmp_path/'notes.txt'), 'notes.txt is not an image that PIL can read'),
                      ((tiny.model, tmp_path/'broken.jpg'), 'broken.jpg is not an image that PIL can read'),
                      ((tiny.model, tmp_path/'nowhere.jpg'), 'No such file or folder')]:
        rc, out, err = run_predict(capsys, *args)
        assert rc == 1 and err.startswith('petlesson predict: error: ') and msg in err and len(err.splitlines()) == 1, (args, err)
        assert out.strip() == ''
    rc, out, err = run_predict(capsys, tiny.model, tmp_path/'broken.jpg', tiny.photo)   # the good photo is still predicted
    assert rc == 1 and out.startswith(str(tiny.photo)) and len(err.splitlines()) == 1
    for bad in (['--top', '0'], ['--bs', 'many'], []):
        with pytest.raises(SystemExit) as e: main(['predict', str(tiny.model), *([str(tiny.photo)] if bad else []), *bad])
        assert e.value.code == 2

@pytest.mark.skipif(not torch.cuda.is_available(), reason='no GPU here')
def test_predict_on_the_gpu_agrees_with_the_cpu(tiny):
    gpu, cpu = load_model(tiny.model), load_model(tiny.model, 'cpu')
    assert str(gpu.dls.device).startswith('cuda') and next(gpu.model.parameters()).is_cuda
    a, b = predict_images(gpu, [tiny.photo])[0], predict_images(cpu, [tiny.photo])[0]
    assert [x for x, _ in a['top']] == [x for x, _ in b['top']]
    np.testing.assert_allclose([p for _, p in a['top']], [p for _, p in b['top']], atol=1e-3)

def test_train_then_predict_from_the_console(tiny, tmp_path):
    "`petlesson --out DIR` saves DIR/model.pkl and records it; `petlesson predict DIR/model.pkl photo` names its breeds"
    out = tmp_path/'run'
    r = run_petlesson('--data', str(tiny.root), '--freeze-epochs', '1', '--epochs', '1', '--size', '64', '--bs', '16', '--threads', '1', '--out', str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((out/'metrics.json').read_text())
    assert m['model'] == 'model.pkl' and (out/'model.pkl').stat().st_size > 10_000_000 and 'model.pkl' in r.stdout
    r = run_petlesson('predict', str(out/'model.pkl'), str(tiny.photo), str(tmp_path/'nowhere.jpg'))
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert r.stdout.startswith(f'{tiny.photo}: ') and len(r.stdout.strip().splitlines()) == 4
    assert r.stderr.strip().splitlines()[-1] == f"petlesson predict: error: No such file or folder: {tmp_path/'nowhere.jpg'}"

# ---- the widget -----------------------------------------------------------------------------------------------

def uploaded(name, data, kind='image/jpeg'):
    "A file as ipywidgets 8's FileUpload gives it"
    return dict(name=name, type=kind, size=len(data), content=memoryview(data), last_modified=datetime.now(timezone.utc))

def test_widget_shows_the_top_breeds_of_an_upload(tiny):
    import ipywidgets
    assert int(ipywidgets.__version__.split('.')[0]) >= 8
    w = breed_widget(tiny.learn)
    assert isinstance(w.upload, ipywidgets.FileUpload) and isinstance(w.output, ipywidgets.Output) and w.output.outputs == ()
    w.upload.value = (uploaded('my_pet.jpg', tiny.photo.read_bytes()),)
    text, chart = w.output.outputs
    expected = predict_images(tiny.learn, [tiny.photo])[0]
    assert text['name'] == 'stdout' and text['text'] == format_prediction(dict(file='my_pet.jpg', **expected)) + '\n'
    import base64
    png = Image.open(io.BytesIO(base64.b64decode(chart['data']['image/png'])))
    assert chart['output_type'] == 'display_data' and png.size[0] > 500
    w.upload.value = (uploaded('notes.txt', b'my pet', 'text/plain'),)   # a new upload replaces the output
    (err,) = w.output.outputs
    assert err['name'] == 'stderr' and 'notes.txt is not an image' in err['text']

def test_widget_in_a_real_kernel(tiny, tmp_path):
    sys.path.insert(0, str(ROOT/'tools'))
    import kernel, nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in [
        "import warnings; warnings.filterwarnings('ignore')\nfrom pathlib import Path\nfrom datetime import datetime\nfrom petlesson.predict import load_model, breed_widget",
        f"w = breed_widget(load_model({str(tiny.model)!r}))\nw",
        f"data = Path({str(tiny.photo)!r}).read_bytes()\n"
        "w.upload.value = (dict(name='my_pet.jpg', type='image/jpeg', size=len(data), content=memoryview(data), last_modified=datetime.now()),)\n"
        "print(w.output.outputs[0]['text'])"]]
    nbformat.write(nb, str(tmp_path/'widget.ipynb'))
    out = kernel.execute(tmp_path/'widget.ipynb', timeout=300)
    expected = format_prediction(dict(file='my_pet.jpg', **predict_images(tiny.learn, [tiny.photo])[0]))
    assert out.cells[2].outputs[0].text.strip() == expected
    state = out.metadata['widgets'][kernel.WIDGET_MIME]['state'].values()
    (shown,) = [s['state']['outputs'] for s in state if s['model_name'] == 'OutputModel']
    assert shown[0]['text'].strip() == expected and 'image/png' in shown[1]['data']
