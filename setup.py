"""Installs lmfloss-mm and the exact OpenMMLab stack it is tested with.

``pip install -e .`` on a fresh Python 3.11 machine installs everything needed to
train and to run ``mim train mmpretrain CONFIG``:

* torch / torchvision (mmpretrain needs torchvision but does not declare it);
* mmengine 0.10.7, mmpretrain 1.2.0 and mmcv-lite 2.2.0 (pure Python; full
  mmcv has no wheel for recent torch and takes long to compile);
* ``setuptools<82``: mmengine 0.10.7 resolves ``mmpretrain::`` config bases
  through ``pkg_resources``, which setuptools 82 removed;
* openmim 0.3.9.  Its dependency ``opendatalab`` (used only by
  ``mim download --dataset``) pulls ``openxlab``, whose recent releases pin
  setuptools 60. ``openxlab==0.0.11`` has no such pin; naming it (and
  ``opendatalab==0.0.10``) keeps setuptools where it is and spares pip a
  long backtracking search through openxlab releases.

If the full ``mmcv`` (with compiled ops) is already installed, set
``LMFLOSS_MM_FULL_MMCV=1`` when installing: the requirement then becomes
``mmcv>=2.0,<2.4`` and ``mmcv-lite`` (which ships the same ``mmcv`` package and
would overwrite it) is not installed.
"""
import os
import re
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithConfigs(build_py):
    """``build_py`` that also packages ``configs/`` as
    ``lmfloss_mm/.mim/configs``, the folder where OpenMMLab packages keep
    their configs, so that an installed (non-editable) lmfloss-mm has them:
    ``lmfloss_mm.configs`` reads ``_base_/imbalanced_runtime.py`` from
    there.  An editable install reads the checkout's ``configs/`` instead,
    so nothing is copied then (and nothing is written into the checkout).
    """

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        target = os.path.join(self.build_lib, 'lmfloss_mm', '.mim',
                              'configs')
        if os.path.isdir(target):
            shutil.rmtree(target)
        shutil.copytree(
            os.path.join(HERE, 'configs'),
            target,
            ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


def read_version():
    with open(os.path.join(HERE, 'lmfloss_mm', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def mmcv_requirement():
    if os.environ.get('LMFLOSS_MM_FULL_MMCV', '').lower() in ('1', 'true', 'yes'):
        return 'mmcv>=2.0.0,<2.4.0'
    return 'mmcv-lite==2.2.0'


setup(
    name='lmfloss-mm',
    version=read_version(),
    description='LMF, LDAM and softmax focal losses for class-imbalanced '
    'medical image classification with MMPretrain',
    long_description=open(os.path.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['lmfloss_mm', 'lmfloss_mm.*']),
    cmdclass={'build_py': BuildPyWithConfigs},
    install_requires=[
        'torch>=2.6',  # checkpoint loading: lmfloss_mm.runner.safe_load
        'torchvision>=0.15',
        'mmengine==0.10.7',
        mmcv_requirement(),
        'mmpretrain==1.2.0',
        'numpy',
        'setuptools>=70,<82',
        'openmim==0.3.9',
        'opendatalab==0.0.10',
        'openxlab==0.0.11',
        'matplotlib',
    ],
    extras_require={
        # ODIR-5K organisers' annotation as .xlsx (a .csv export needs nothing)
        'xlsx': ['openpyxl'],
        'tests': ['pytest', 'pytest-xdist', 'scikit-learn', 'openpyxl'],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Medical Science Apps.',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
