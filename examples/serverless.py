"""The notes service on AWS Lambda behind API Gateway, through Mangum: `handler` is the Lambda
function's handler. The composition root is entered by the first invocation of a container
and serves every later one; Lambda never runs a teardown."""

from mangum import Mangum

from examples.main import main
from lazgi import LazyApp

handler = Mangum(LazyApp(main, start_on_first_request=True), lifespan="off")
